/**
 * The request log of zonixd's HTTP servers (the API and CloudAPI): one pino line per request, once
 * it is answered, with its id (fastify's default is two lines).
 * @module
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** One log line per request, once it is answered (fastify's default is two). */
export class OneLineLog extends LogController {
  override incomingRequest(): void {
    /* said with the answer */
  }
  override requestCompleted(err: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: req.method,
      url: req.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (err) req.log.error({ ...line, err }, 'request failed');
    else req.log.info(line, 'request');
  }
}
