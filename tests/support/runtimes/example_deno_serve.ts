/**
 * Preload for running `examples/deno/main.ts` unchanged under test
 * (`deno run --preload <this file> … examples/deno/main.ts`): the example
 * hard-codes `Deno.serve({ port: 8787 })`, so this wraps `Deno.serve` to bind
 * 127.0.0.1 on an OS-chosen free port instead and print
 * `EXAMPLE_LISTENING <port>` on stderr once it listens (the test's readiness
 * signal). The handler and everything else are the example's own.
 *
 * @module
 */
type Handler = Deno.ServeHandler;
type Options = Deno.ServeTcpOptions & { handler?: Handler };

const original = Deno.serve.bind(Deno);

Object.assign(Deno, {
  serve(first: Handler | Options, second?: Handler): Deno.HttpServer {
    const options: Options = typeof first === "function" ? {} : first;
    const handler = typeof first === "function" ? first : second ?? first.handler;
    if (!handler) throw new TypeError("example_deno_serve: Deno.serve without a handler");
    return original({
      ...options,
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => console.error(`EXAMPLE_LISTENING ${port}`),
    }, handler);
  },
});
