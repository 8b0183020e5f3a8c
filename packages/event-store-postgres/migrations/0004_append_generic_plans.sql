-- plpgsql's plan cache kept choosing custom plans for orderly_append's array-driven statements, re-planning them on
-- every call. The generic plans are index nested loops, right for any batch size; forcing them cut the backend CPU of
-- a one-command batch by about a third (1.4 → 0.9 ms and 2.3 → 1.5 ms in two rounds of measurement on the loaded
-- machine; see docs/adr/0003-commit-ordered-positions.md). Batches of 256 are unaffected.
alter function orderly_append(text[], bigint[], text[], text[], integer[], uuid[], text[], text[], uuid[], uuid[], uuid[],
  text[], timestamptz[], integer)
  set plan_cache_mode = force_generic_plan;
