/**
 * The HTTP adapter: a node:http listener with a small router. /healthz, /readyz and
 * /metrics; the REST API and the Maysano views add their routes to the same Router. Every
 * route is added through the gate (gate.ts), with the scope it needs or as open.
 */
export { HttpServer, type HttpServerOptions } from './server';
export { Router, type GatedRoute, type RouteAccess, type RouteContext, type RouteHandler, type RouteInfo, type RouteMatch } from './router';
export { ACCESS_TOKEN, HttpGate, type CallContext, type CallHandler } from './gate';
export { addOpsRoutes, type Readiness } from './ops-routes';
export { errorBody, sendError, sendJson, sendText } from './respond';
export { readBody, readJson } from './body';
export { registerApiRoutes, type ApiDeps, type ApiRoutes } from './api-routes';
