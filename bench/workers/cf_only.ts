/** Cold start: the CF provider alone, as a user's Worker would hold it (module scope). */
import { cfProvider } from "./_cf.ts";

const provider = cfProvider("cf.test");
export default provider;
