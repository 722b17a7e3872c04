/** The middleware's test receiver (a real local HTTP server speaking the sink's ingest protocol and capturing OTLP). */
export { type Receiver, startReceiver } from '../../otel-middleware/test/receiver.ts';
