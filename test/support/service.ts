// Tests start the project's services the same way `npm start` does.
export { projectRoot, startService, type RunningService } from "../../scripts/stack/service.ts";
