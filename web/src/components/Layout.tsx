// The frame of every page: a skip link, the navigation (what the session's roles allow), the
// cart count, and the page itself in <main>.
import { useEffect, useRef } from "react";
import { Link, NavLink, Outlet, useLocation, useNavigate } from "react-router";

import { useSession } from "../app/services";
import { useCart } from "../cart/cart";

export function Layout() {
  const session = useSession();
  const cart = useCart();
  const navigate = useNavigate();
  const location = useLocation();
  const main = useRef<HTMLElement>(null);

  // A client-side navigation moves focus to the new page, as a page load would.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [location.pathname]);

  const user = session.user;
  const logout = async () => {
    await session.logout();
    navigate("/");
  };

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <Link to="/" className="brand">
          Order platform
        </Link>
        <nav aria-label="Main">
          <ul className="nav-list">
            <li>
              <NavLink to="/" end>
                Catalog
              </NavLink>
            </li>
            <li>
              <NavLink to="/cart">
                Cart <span className="cart-count" data-testid="cart-count" aria-label={`${cart.count} items`}>{cart.count}</span>
              </NavLink>
            </li>
            {user && (
              <>
                <li>
                  <NavLink to="/orders">My orders</NavLink>
                </li>
                <li>
                  <NavLink to="/notifications">Notifications</NavLink>
                </li>
                <li>
                  <NavLink to="/account">Account</NavLink>
                </li>
              </>
            )}
            {session.hasRole("staff", "admin") && (
              <li>
                <NavLink to="/staff">Staff board</NavLink>
              </li>
            )}
            {session.hasRole("admin") && (
              <li>
                <NavLink to="/admin">Admin</NavLink>
              </li>
            )}
            {user ? (
              <li>
                <button type="button" className="link-button" onClick={logout}>
                  Log out{user.isGuest ? " (guest)" : ""}
                </button>
              </li>
            ) : (
              <li>
                <NavLink to="/login">Log in</NavLink>
              </li>
            )}
          </ul>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {session.status === "restoring" ? (
          <p className="loading" role="status">
            Restoring your session…
          </p>
        ) : (
          <Outlet />
        )}
      </main>
      <footer className="site-footer">
        <p>Order platform: a reference implementation of event-driven services.</p>
      </footer>
    </>
  );
}
