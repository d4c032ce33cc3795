/**
 * Cold-start probe (internal): run in a fresh `deno run` by bench/run.ts. Imports the module
 * named by the first argument (none: baseline) and prints the in-process import() time.
 */
const t0 = performance.now();
if (Deno.args[0]) await import(Deno.args[0]);
console.log(JSON.stringify({ importMs: performance.now() - t0 }));
