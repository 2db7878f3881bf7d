// A second client for the emulator: jsforce 3 (run by tests/sfemulator/test_jsforce.py).
// Reads its instructions as JSON on stdin, prints what it saw as JSON on stdout.
// jsforce posts OAuth token requests with Transfer-Encoding: chunked; Node trusts the
// emulator's CA through NODE_EXTRA_CA_CERTS.
const jsforce = require("jsforce");

async function main() {
  const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const oauth2 = {
    loginUrl: input.loginUrl,
    clientId: input.clientId,
    clientSecret: input.clientSecret,
  };
  const out = {};

  const byPassword = new jsforce.Connection({ oauth2, version: input.version });
  const user = await byPassword.login(input.username, input.password);
  out.passwordUserId = user.id;

  const conn = new jsforce.Connection({ oauth2, version: input.version });
  const integration = await conn.authorize({ grant_type: "client_credentials" });
  out.clientCredentialsUserId = integration.id;

  if (input.composite) {
    out.composite = await conn.requestPost("/composite", input.composite);
  }
  if (input.query) {
    const result = await conn.query(input.query);
    out.queryTotal = result.totalSize;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
