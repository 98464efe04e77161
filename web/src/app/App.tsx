// The route table: storefront and account pages, the staff board, and the admin pages.
import type { ReactElement } from "react";
import { Link, Route, Routes } from "react-router";

import { CartProvider } from "../cart/cart";
import { RequireRole, RequireSession } from "../components/guards";
import { Layout } from "../components/Layout";
import { useTitle } from "../components/ui";
import { AccountPage } from "../pages/AccountPage";
import { AdminCategoriesPage } from "../pages/admin/AdminCategoriesPage";
import { AdminDlqPage } from "../pages/admin/AdminDlqPage";
import { AdminHomePage } from "../pages/admin/AdminHomePage";
import { AdminProductsPage } from "../pages/admin/AdminProductsPage";
import { AdminTracePage } from "../pages/admin/AdminTracePage";
import { AdminUsersPage } from "../pages/admin/AdminUsersPage";
import { CartPage } from "../pages/CartPage";
import { CatalogPage } from "../pages/CatalogPage";
import { CheckoutPage } from "../pages/CheckoutPage";
import { LoginPage } from "../pages/LoginPage";
import { NotificationsPage } from "../pages/NotificationsPage";
import { OrderPage } from "../pages/OrderPage";
import { OrdersPage } from "../pages/OrdersPage";
import { ProductPage } from "../pages/ProductPage";
import { RegisterPage } from "../pages/RegisterPage";
import { StaffBoardPage } from "../pages/StaffBoardPage";

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
const admin = (page: ReactElement) => <RequireRole roles={["admin"]}>{page}</RequireRole>;

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
          <Route path="staff" element={<RequireRole roles={["staff", "admin"]}><StaffBoardPage /></RequireRole>} />
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
