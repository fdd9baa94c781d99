import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { captureToken } from "./credentials";
import "./styles.css";

captureToken(window.location, window.sessionStorage, window.history);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
