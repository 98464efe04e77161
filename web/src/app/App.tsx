// The route table: storefront and account pages, the staff board, and the admin pages.
import { lazy, Suspense, type ReactElement } from "react";
import { Link, Route, Routes } from "react-router";

import { CartProvider } from "../cart/cart";
import { RequireRole, RequireSession } from "../components/guards";
import { Layout } from "../components/Layout";
import { Loading, useTitle } from "../components/ui";
import { AccountPage } from "../pages/AccountPage";
import { CartPage } from "../pages/CartPage";
import { CatalogPage } from "../pages/CatalogPage";
import { CheckoutPage } from "../pages/CheckoutPage";
import { LoginPage } from "../pages/LoginPage";
import { NotificationsPage } from "../pages/NotificationsPage";
import { OrderPage } from "../pages/OrderPage";
import { OrdersPage } from "../pages/OrdersPage";
import { ProductPage } from "../pages/ProductPage";
import { RegisterPage } from "../pages/RegisterPage";

// Staff and admin pages load on first use: a customer's browser never downloads them.
const StaffBoardPage = lazy(() => import("../pages/StaffBoardPage").then((m) => ({ default: m.StaffBoardPage })));
const AdminHomePage = lazy(() => import("../pages/admin/AdminHomePage").then((m) => ({ default: m.AdminHomePage })));
const AdminProductsPage = lazy(() =>
  import("../pages/admin/AdminProductsPage").then((m) => ({ default: m.AdminProductsPage })),
);
const AdminCategoriesPage = lazy(() =>
  import("../pages/admin/AdminCategoriesPage").then((m) => ({ default: m.AdminCategoriesPage })),
);
const AdminUsersPage = lazy(() => import("../pages/admin/AdminUsersPage").then((m) => ({ default: m.AdminUsersPage })));
const AdminTracePage = lazy(() => import("../pages/admin/AdminTracePage").then((m) => ({ default: m.AdminTracePage })));
const AdminDlqPage = lazy(() => import("../pages/admin/AdminDlqPage").then((m) => ({ default: m.AdminDlqPage })));

function NotFoundPage() {
  useTitle("Not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing here. <Link to="/">Back to the catalog</Link>.
      </p>
    </section>
  );
}

const session = (page: ReactElement) => <RequireSession>{page}</RequireSession>;
const later = (page: ReactElement) => <Suspense fallback={<Loading />}>{page}</Suspense>;
const admin = (page: ReactElement) => <RequireRole roles={["admin"]}>{later(page)}</RequireRole>;

export function App() {
  return (
    <CartProvider>
      <Routes>
        <Route element={<Layout />}>
          <Route index element={<CatalogPage />} />
          <Route path="products/:productId" element={<ProductPage />} />
          <Route path="cart" element={<CartPage />} />
          <Route path="checkout" element={<CheckoutPage />} />
          <Route path="login" element={<LoginPage />} />
          <Route path="register" element={<RegisterPage />} />
          <Route path="account" element={session(<AccountPage />)} />
          <Route path="orders" element={session(<OrdersPage />)} />
          <Route path="orders/:orderId" element={session(<OrderPage />)} />
          <Route path="notifications" element={session(<NotificationsPage />)} />
          <Route path="staff" element={<RequireRole roles={["staff", "admin"]}>{later(<StaffBoardPage />)}</RequireRole>} />
          <Route path="admin" element={admin(<AdminHomePage />)} />
          <Route path="admin/products" element={admin(<AdminProductsPage />)} />
          <Route path="admin/categories" element={admin(<AdminCategoriesPage />)} />
          <Route path="admin/users" element={admin(<AdminUsersPage />)} />
          <Route path="admin/trace" element={admin(<AdminTracePage />)} />
          <Route path="admin/trace/:orderId" element={admin(<AdminTracePage />)} />
          <Route path="admin/dlq" element={admin(<AdminDlqPage />)} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </CartProvider>
  );
}
