import { Link } from "react-router";

import { useTitle } from "../../components/ui";

export function AdminHomePage() {
  useTitle("Admin");
  return (
    <section>
      <h1>Admin</h1>
      <ul className="admin-links">
        <li>
          <Link to="/admin/products">Products and stock</Link>
        </li>
        <li>
          <Link to="/admin/categories">Categories</Link>
        </li>
        <li>
          <Link to="/admin/users">Users and roles</Link>
        </li>
        <li>
          <Link to="/admin/trace">Trace an order</Link>
        </li>
        <li>
          <Link to="/admin/dlq">Dead letters</Link>
        </li>
      </ul>
    </section>
  );
}

export function AdminNav() {
  return (
    <p>
      <Link to="/admin">← Admin</Link>
    </p>
  );
}
