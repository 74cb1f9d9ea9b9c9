/**
 * The HTTP adapter: a node:http listener with a small router. Today /healthz, /readyz and
 * /metrics; the REST API and the Maysano views add their routes to the same Router.
 */
export { HttpServer, type HttpServerOptions } from './server';
export { Router, type RouteContext, type RouteHandler, type RouteMatch } from './router';
export { addOpsRoutes, type Readiness } from './ops-routes';
export { errorBody, sendError, sendJson, sendText } from './respond';
export { readBody, readJson } from './body';
export { registerApiRoutes, type ApiDeps, type ApiRoutes } from './api-routes';
