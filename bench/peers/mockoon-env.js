// Writes the Mockoon environment the benchmark serves (docs/BENCHMARK.md): one CRUD route,
// `accessPackages`, over a data bucket holding the packages, built with Mockoon's own schema
// builders so the file matches the CLI's version. Usage: node mockoon-env.js ITEMS.json OUT.json PORT
const fs = require('fs');
const { BuildEnvironment, BuildDatabucket, BuildCRUDRoute } = require('@mockoon/commons');

const [itemsFile, out, port] = process.argv.slice(2);
const env = BuildEnvironment({ hasDefaultRoute: false, hasContentTypeHeader: true, hasCorsHeaders: false });
const bucket = BuildDatabucket();
bucket.name = 'accessPackages';
bucket.value = fs.readFileSync(itemsFile, 'utf8');
const route = BuildCRUDRoute();
route.endpoint = 'accessPackages';
route.responses[0].databucketID = bucket.id;
env.name = 'entitlement-emulator benchmark';
env.port = Number(port);
env.hostname = '127.0.0.1';
env.data = [bucket];
env.routes = [route];
env.rootChildren = [{ type: 'route', uuid: route.uuid }];
fs.writeFileSync(out, JSON.stringify(env));
