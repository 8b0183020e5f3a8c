/**
 * Command-line flags for headless Chromium (Debian's `chromium`) on this project's machines: no sandbox (containers
 * run as root), no GPU, and nothing that reaches the network by itself (background updates, sync, QUIC: the CI
 * network refuses them). Used by the HTML report's browser test and the README screenshot script.
 */
export const HEADLESS_CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
