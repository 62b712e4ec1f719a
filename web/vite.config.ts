import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a running gateway (GATEWAY, default the one of `make run`).
export default defineConfig({
  plugins: [react()],
  build: { target: "es2020", sourcemap: false, modulePreload: { polyfill: false } },
  server: {
    proxy: { "/api": process.env.GATEWAY ?? "http://127.0.0.1:8000" },
  },
});
