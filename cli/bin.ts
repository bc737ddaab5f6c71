/**
 * The installed CLI's entry (`secret-rotation`, bundled by `npm run build` into `cli/dist/secret-rotation.cjs`).
 * In a checkout, `bin/secret-rotation` runs `main` from the sources instead.
 */
import { main } from './main';

// The AWS SDK's Node.js version notice would precede every command's output; the package states its Node range.
// The SDK reads it when a client is created, which happens inside `main`.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
