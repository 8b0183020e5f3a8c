export { Backoff, type BackoffOptions, backoffDelay, type Jitter } from "./backoff.js";
export { pause } from "./pause.js";
