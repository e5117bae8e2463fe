// Preloaded into the oomwatch binary with --require: when the process exits, writes the path of every
// module it loaded, one a line, to the file named by OOMWATCH_TEST_MODULES_FILE.
const fs = require('node:fs');

process.on('exit', () => {
  fs.writeFileSync(process.env.OOMWATCH_TEST_MODULES_FILE, Object.keys(require.cache).join('\n'));
});
