/**
 * The edge: stateless Hono functions on Cloudflare Workers. Features live one folder each;
 * this file only mounts them.
 */
import { Hono } from 'hono';
import { health } from './health';

export const app = new Hono();
app.route('/', health);

export default app;
