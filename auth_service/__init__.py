"""auth_service: accounts, argon2id passwords, RS256 access tokens, rotating refresh tokens,
JWKS."""
