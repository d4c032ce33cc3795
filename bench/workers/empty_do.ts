/**
 * Cold-start baseline for the Durable Object rows: an empty Worker answering 200 that declares a
 * Durable Object class, so the binding's own cost in workerd is not counted as the library's.
 */
export class GatehouseStorageObject {
  /** Never called by the bench. */
  fetch(): Response {
    return new Response(null, { status: 204 });
  }
}
export default { fetch: (): Response => new Response("{}") };
