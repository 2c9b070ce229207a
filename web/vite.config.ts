// Vite: builds the app to web/dist (served by streamgate at /); in dev, proxies the API.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const target = process.env.STREAMGATE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    proxy: {
      '/ws': { target, ws: true, changeOrigin: true },
      '/v1': { target, changeOrigin: true },
      '/healthz': { target, changeOrigin: true },
    },
  },
});
