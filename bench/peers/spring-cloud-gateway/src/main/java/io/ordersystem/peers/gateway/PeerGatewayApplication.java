package io.ordersystem.peers.gateway;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.core.OAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2TokenValidatorResult;
import org.springframework.security.oauth2.jose.jws.SignatureAlgorithm;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtClaimNames;
import org.springframework.security.oauth2.jwt.JwtIssuerValidator;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.NimbusReactiveJwtDecoder;
import org.springframework.security.oauth2.jwt.ReactiveJwtDecoder;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;

/**
 * Spring Cloud Gateway set up to do what our gateway does on the benchmarked path: check the
 * bearer token (RS256 only, key by kid from the JWKS, iss, aud, exp with 5 s leeway, the claims
 * our issuer always sets, lifetime at most 15 minutes), then route /api/echo/** to the instances
 * Eureka lists for the app (application.yml). No session, no CSRF: a stateless API gateway.
 */
@SpringBootApplication
public class PeerGatewayApplication {

    private static final Duration LEEWAY = Duration.ofSeconds(5);
    private static final Duration MAX_LIFETIME = Duration.ofSeconds(900);
    private static final List<String> REQUIRED =
            List.of(JwtClaimNames.EXP, JwtClaimNames.IAT, JwtClaimNames.SUB, JwtClaimNames.ISS,
                    JwtClaimNames.AUD, JwtClaimNames.JTI);

    public static void main(String[] args) {
        SpringApplication.run(PeerGatewayApplication.class, args);
    }

    @Bean
    SecurityWebFilterChain securityWebFilterChain(ServerHttpSecurity http) {
        return http
                .csrf(ServerHttpSecurity.CsrfSpec::disable)
                .requestCache(ServerHttpSecurity.RequestCacheSpec::disable)
                .securityContextRepository(NoOpServerSecurityContextRepository.getInstance())
                .authorizeExchange(exchanges -> exchanges
                        .pathMatchers("/actuator/health").permitAll()
                        .anyExchange().authenticated())
                .oauth2ResourceServer(server -> server.jwt(jwt -> { }))
                .build();
    }

    @Bean
    ReactiveJwtDecoder jwtDecoder(
            @Value("${peer.jwks-url}") String jwksUrl,
            @Value("${peer.issuer}") String issuer,
            @Value("${peer.audience}") String audience) {
        NimbusReactiveJwtDecoder decoder = NimbusReactiveJwtDecoder.withJwkSetUri(jwksUrl)
                .jwsAlgorithm(SignatureAlgorithm.RS256)
                .build();
        decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(
                new JwtTimestampValidator(LEEWAY),
                new JwtIssuerValidator(issuer),
                token -> token.getAudience() != null && token.getAudience().contains(audience)
                        ? OAuth2TokenValidatorResult.success()
                        : failure("wrong audience"),
                requiredClaimsAndLifetime()));
        return decoder;
    }

    private static OAuth2TokenValidator<Jwt> requiredClaimsAndLifetime() {
        return token -> {
            for (String claim : REQUIRED) {
                if (!token.hasClaim(claim)) {
                    return failure("missing claim " + claim);
                }
            }
            Instant issued = token.getIssuedAt();
            Instant expires = token.getExpiresAt();
            if (Duration.between(issued, expires).compareTo(MAX_LIFETIME.plus(LEEWAY)) > 0) {
                return failure("token lifetime longer than this issuer grants");
            }
            return OAuth2TokenValidatorResult.success();
        };
    }

    private static OAuth2TokenValidatorResult failure(String description) {
        return OAuth2TokenValidatorResult.failure(new OAuth2Error("invalid_token", description, null));
    }
}
