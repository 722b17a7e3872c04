/** k6 script of the `batch-capacity` scenario (see ../lib.ts; bundled by ../build.ts; not executed in this project). */
import { makeScript } from '../lib.ts';

const script = makeScript('batch-capacity');
export const options = script.options;
export const setup = script.setup;
export default script.iteration;
export const handleSummary = script.handleSummary;
