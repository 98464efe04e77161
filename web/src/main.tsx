import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";

import { App } from "./app/App";
import { AppServices } from "./app/services";
import "./styles.css";

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");

createRoot(root).render(
  <StrictMode>
    <AppServices>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </AppServices>
  </StrictMode>,
);
