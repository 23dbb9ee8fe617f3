// Drives the Intacct simulator with Sage's published JS SDK (@intacct/intacct-sdk),
// unmodified, and prints a JSON summary of what the SDK's own result classes
// parsed. Used by tests/intacct_sdk.rs.
//
// Env: INTACCT_ENDPOINT_URL (http://sandbox.intacct.com:<port>/sandbox/intacct/<pair>/ia/xml/xmlgw.phtml),
// INTACCT_SENDER_ID, INTACCT_SENDER_PASSWORD, INTACCT_COMPANY_ID, INTACCT_USER_ID,
// INTACCT_USER_PASSWORD.
//
// The SDK only accepts endpoints under .intacct.com, so the endpoint names
// sandbox.intacct.com and every name resolves to 127.0.0.1 here: the SDK posts
// through node-fetch → http.request with no agent of its own, so the global
// agent's `lookup` is the one it uses. No request can leave the machine.
import http from "node:http";

const LOOPBACK = "127.0.0.1";
http.globalAgent = new http.Agent({
  keepAlive: false,
  lookup(hostname, options, callback) {
    const cb = typeof options === "function" ? options : callback;
    const all = typeof options === "object" && options !== null && options.all;
    if (!hostname.endsWith(".intacct.com") && hostname !== "localhost" && hostname !== LOOPBACK) {
      cb(new Error(`sdk-compat: refusing to resolve ${hostname}; only *.intacct.com → ${LOOPBACK}`));
      return;
    }
    if (all) cb(null, [{ address: LOOPBACK, family: 4 }]);
    else cb(null, LOOPBACK, 4);
  },
});

const sdk = (await import("@intacct/intacct-sdk")).default;
const { OnlineClient, ClientConfig, RequestConfig, SessionProvider, Credentials, Functions, Exceptions } = sdk;
const { ReadByQuery, ReadMore, Read, ReadByName } = Functions.Common;
const { CustomerCreate, ArAdjustmentCreate, ArAdjustmentLineCreate } = Functions.AccountsReceivable;
const { OrderEntryTransactionCreate, OrderEntryTransactionLineCreate } = Functions.OrderEntry;

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`sdk-compat: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const endpointUrl = env("INTACCT_ENDPOINT_URL");
const packageVersion = JSON.parse(
  await (await import("node:fs/promises")).readFile(
    new URL("./node_modules/@intacct/intacct-sdk/package.json", import.meta.url),
  ),
).version;

function loginConfig() {
  const config = new ClientConfig();
  config.endpointUrl = endpointUrl;
  config.senderId = env("INTACCT_SENDER_ID");
  config.senderPassword = env("INTACCT_SENDER_PASSWORD");
  config.companyId = env("INTACCT_COMPANY_ID");
  config.userId = env("INTACCT_USER_ID");
  config.userPassword = env("INTACCT_USER_PASSWORD");
  config.credentials = new Credentials.LoginCredentials(config, new Credentials.SenderCredentials(config));
  return config;
}

function requestConfig({ transaction = false, uniqueId = false } = {}) {
  const rc = new RequestConfig();
  rc.transaction = transaction;
  rc.uniqueId = uniqueId;
  // A failure must show at once, not after the SDK's 1+2+4+8+16 s of retries.
  rc.maxRetries = 0;
  rc.maxTimeout = 20000;
  return rc;
}

/** What the SDK's Result class parsed, in plain JSON. */
function result(r) {
  return {
    status: r.status,
    function: r.functionName,
    controlid: r.controlId,
    key: r.key ?? null,
    count: r.count ?? null,
    totalcount: r.totalCount ?? null,
    numremaining: r.numRemaining ?? null,
    resultid: r.resultId ?? null,
    records: Array.isArray(r.data) ? r.data.length : null,
    first_record: Array.isArray(r.data) && r.data.length > 0 ? r.data[0] : null,
    errors: r.errors ?? [],
  };
}

function describe(e) {
  if (e instanceof Exceptions.ResponseException) return { message: e.message, errors: e.errors };
  return { message: String(e && e.stack ? e.stack : e) };
}

const summary = { sdk_version: packageVersion, endpoint: endpointUrl, steps: {} };
let failed = false;

async function step(name, fn) {
  const started = Date.now();
  try {
    summary.steps[name] = { ok: true, ...(await fn()), ms: Date.now() - started };
  } catch (e) {
    failed = true;
    summary.steps[name] = { ok: false, error: describe(e), ms: Date.now() - started };
  }
}

const client = new OnlineClient(loginConfig());

// 1. Sign in with LoginCredentials (every request below carries the login block),
//    and trade it for an API session through SessionProvider.
let sessionClient = null;
await step("session", async () => {
  const config = await SessionProvider.factory(loginConfig());
  sessionClient = new OnlineClient(config);
  return {
    session_id_present: Boolean(config.sessionId),
    endpoint: config.endpointUrl,
    company_id: config.companyId,
    user_id: config.userId,
    session_timeout: config.sessionTimeout ?? null,
  };
});

// 2. ReadByQuery + ReadMore to the end, with the session from step 1.
await step("read_by_query_items", async () => {
  const c = sessionClient ?? client;
  const query = new ReadByQuery();
  query.objectName = "ITEM";
  query.fields = ["RECORDNO", "ITEMID", "NAME"];
  query.pageSize = 75;
  let response = await c.execute(query, requestConfig());
  const first = result(response.getResult());
  const ids = new Set();
  const collect = (r) => r.data.forEach((d) => ids.add(d.ITEMID));
  collect(response.getResult());
  let pages = 1;
  let remaining = first.numremaining;
  let resultId = first.resultid;
  const pageSizes = [first.count];
  while (remaining > 0) {
    const more = new ReadMore();
    more.resultId = resultId;
    response = await c.execute(more, requestConfig());
    const r = response.getResult();
    collect(r);
    pages += 1;
    pageSizes.push(r.count);
    remaining = r.numRemaining;
    if (pages > 50) throw new Error("readMore never reached the end");
  }
  return { first, pages, page_sizes: pageSizes, unique_ids: ids.size, authentication_company: response.authentication.companyId };
});

// 3. Read (by RECORDNO) and ReadByName.
let customerRecordNo = null;
await step("read_by_query_customers", async () => {
  const query = new ReadByQuery();
  query.objectName = "CUSTOMER";
  query.query = "CUSTOMERID = 'CUS-5001'";
  const response = await client.execute(query, requestConfig());
  const r = response.getResult();
  customerRecordNo = r.data[0].RECORDNO;
  return { result: result(r), recordno: customerRecordNo, name: r.data[0].NAME };
});

await step("read", async () => {
  const read = new Read();
  read.objectName = "CUSTOMER";
  read.keys = [customerRecordNo];
  const r = (await client.execute(read, requestConfig())).getResult();
  return { result: result(r), customerid: r.data[0].CUSTOMERID };
});

await step("read_by_name", async () => {
  const read = new ReadByName();
  read.objectName = "ITEM";
  read.names = ["SKU-1001", "SKU-1002"];
  const r = (await client.execute(read, requestConfig())).getResult();
  return { result: result(r), itemids: r.data.map((d) => d.ITEMID) };
});

// 4. Writes through the SDK's typed functions.
function newCustomer(id, name) {
  const c = new CustomerCreate();
  c.customerId = id;
  c.customerName = name;
  c.primaryEmailAddress = `${id.toLowerCase()}@example.com`;
  c.firstName = "Sam";
  c.lastName = "Dekay";
  c.addressLine1 = "1 Main St";
  c.city = "Portland";
  c.stateProvince = "OR";
  c.zipPostalCode = "97201";
  c.country = "United States";
  c.isoCountryCode = "US";
  return c;
}

function newOrder(customerId, reference) {
  const o = new OrderEntryTransactionCreate();
  o.transactionDefinition = "Sales Order";
  o.transactionDate = new Date(Date.UTC(2026, 5, 1));
  o.customerId = customerId;
  o.referenceNumber = reference;
  o.paymentTerm = "Net 30";
  const line = new OrderEntryTransactionLineCreate();
  line.itemId = "SKU-1001";
  line.quantity = 2;
  line.price = 12.5;
  line.warehouseId = "WH1";
  line.locationId = "US-EAST";
  o.lines = [line];
  return o;
}

await step("customer_create", async () => {
  const r = (await client.execute(newCustomer("CUS-SDK-1", "SDK Customer One"), requestConfig({ uniqueId: true }))).getResult();
  return { result: result(r) };
});

await step("order_create", async () => {
  const r = (await client.execute(newOrder("CUS-SDK-1", "SDK-ORDER-1"), requestConfig({ uniqueId: true }))).getResult();
  return { result: result(r) };
});

// 5. Batches: independent functions (one fails on purpose), then one transaction.
await step("batch", async () => {
  const byName = new ReadByName();
  byName.objectName = "CUSTOMER";
  byName.names = ["CUS-SDK-1"];
  const duplicate = newCustomer("CUS-SDK-1", "Duplicate");
  const fresh = newCustomer("CUS-SDK-2", "SDK Customer Two");
  const response = await client.executeBatch([byName, duplicate, fresh], requestConfig());
  return { results: response.results.map(result) };
});

await step("batch_transaction", async () => {
  const response = await client.executeBatch(
    [newCustomer("CUS-SDK-3", "SDK Customer Three"), newOrder("CUS-SDK-3", "SDK-ORDER-3")],
    requestConfig({ transaction: true, uniqueId: true }),
  );
  return { results: response.results.map(result) };
});

// A transaction whose second function fails: the SDK raises, and nothing of it stays.
await step("batch_transaction_rollback", async () => {
  const bad = newOrder("CUS-SDK-4", "SDK-ORDER-4");
  bad.lines[0].itemId = "NO-SUCH-ITEM";
  try {
    await client.executeBatch([newCustomer("CUS-SDK-4", "SDK Customer Four"), bad], requestConfig({ transaction: true }));
    return { raised: false };
  } catch (e) {
    if (!(e instanceof Exceptions.ResponseException)) throw e;
    const byName = new ReadByName();
    byName.objectName = "CUSTOMER";
    byName.names = ["CUS-SDK-4"];
    const r = (await client.execute(byName, requestConfig())).getResult();
    return { raised: true, message: e.message, errors: e.errors, customer_after: r.data.length };
  }
});

// An error message must survive the SDK's ErrorMessage class, which strips
// anything tag-like: a function the gateway does not know (sent through the
// SDK's IFunction interface, which any caller may implement).
await step("unknown_function", async () => {
  const widget = {
    controlId: "widget-1",
    writeXml(xml) {
      xml.writeStartElement("function");
      xml.writeAttribute("controlid", this.controlId, true);
      xml.writeStartElement("create_widget");
      xml.writeEndElement();
      xml.writeEndElement();
    },
  };
  try {
    await client.execute(widget, requestConfig());
    return { raised: false };
  } catch (e) {
    if (!(e instanceof Exceptions.ResponseException)) throw e;
    return { raised: true, errors: e.errors };
  }
});

// 6. A credit memo as an AR adjustment (spec §6.7).
await step("ar_adjustment_create", async () => {
  const adj = new ArAdjustmentCreate();
  adj.customerId = "CUS-SDK-1";
  adj.transactionDate = new Date(Date.UTC(2026, 5, 2));
  adj.adjustmentNumber = "CM-SDK-1";
  adj.description = "Credit for a damaged item";
  const line = new ArAdjustmentLineCreate();
  line.glAccountNumber = "4000";
  line.transactionAmount = -25;
  line.locationId = "US-EAST";
  line.memo = "Damaged";
  adj.lines = [line];
  const r = (await client.execute(adj, requestConfig({ uniqueId: true }))).getResult();
  return { result: result(r) };
});

console.log(JSON.stringify(summary, null, 2));
process.exit(failed ? 1 : 0);
