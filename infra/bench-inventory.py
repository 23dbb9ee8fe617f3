#!/usr/bin/env python3
"""Inventory changes from the Intacct simulator at its limits into Clarity.

Starts one `connect serve` (embedded default, fresh data folder) and makes a
sandbox Intacct pair. Through Intacct's own XML API (not the product), it
books CHANGES stock moves (one-line "Sales Return" documents, each putting one
unit back on hand) spread over ROWS item/warehouse rows, 50 functions to a
request. Then it sets the Intacct simulator to its limits (2 requests at once
per company, each answered after LATENCY_MS), turns the inventory flow on and
asks for a poll, and times until every moved row's on-hand level is in the
Clarity simulator (Clarity at its own limit: 120 requests a minute).

It prints one JSON line: the changes, the rows they touched, the Clarity writes
(runs), the seconds, and the ceiling: Intacct reads ceil(ROWS / 100) pages of
ITEMWAREHOUSEINFO, two at a time, and Clarity takes ROWS absolute sets at 120 a
minute, paced evenly by the product's shared limiter (one each 500 ms): the
ceiling is the reads plus the writes.
Everything targets 127.0.0.1; every wait is bounded.

    infra/bench-inventory.py BIN   (CHANGES=5000 ROWS=100 LATENCY_MS=1000)
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

BIN = os.path.realpath(sys.argv[1])
CHANGES = int(os.environ.get("CHANGES", "5000"))
ROWS = int(os.environ.get("ROWS", "100"))
LATENCY_MS = int(os.environ.get("LATENCY_MS", "1000"))
PER_REQUEST = 50
DEADLINE_S = 900


def call(base, method, path, token=None, body=None, expect=(200, 201, 202)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    if status not in expect:
        sys.exit(f"{method} {path}: {status} {text[:400]!r}")
    return json.loads(text) if text else None


class Intacct:
    """A bare client of the simulator's XML gateway, as another tool would be."""

    def __init__(self, info):
        self.info = info
        self.n = 0

    def request(self, functions):
        i = self.info
        self.n += 1
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><request><control>"
            f"<senderid>{i['sender_id']}</senderid><password>{i['sender_password']}</password>"
            f"<controlid>bench-{self.n}</controlid><uniqueid>false</uniqueid>"
            "<dtdversion>3.0</dtdversion><includewhitespace>false</includewhitespace></control>"
            "<operation><authentication><login>"
            f"<userid>{i['user_id']}</userid><companyid>{i['company_id']}</companyid>"
            f"<password>{i['user_password']}</password></login></authentication><content>"
            + "".join(f'<function controlid="f{k}">{f}</function>' for k, f in enumerate(functions))
            + "</content></operation></request>"
        )
        req = urllib.request.Request(
            i["endpoint_url"], data=body.encode(), method="POST",
            headers={"content-type": "application/xml"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            root = ET.fromstring(r.read())
        results = root.findall(".//result")
        failed = [ET.tostring(x, encoding="unicode")[:300] for x in results
                  if x.findtext("status") != "success"]
        if failed or len(results) != len(functions):
            sys.exit(f"Intacct refused: {failed[:2] or ET.tostring(root, encoding='unicode')[:600]}")
        return results

    def rows(self, obj, fields, query=""):
        out, fn = [], (
            f"<readByQuery><object>{obj}</object><fields>{','.join(fields)}</fields>"
            f"<query>{query}</query><pagesize>1000</pagesize></readByQuery>"
        )
        while True:
            result = self.request([fn])[0]
            data = result.find("data")
            out += [{c.tag: c.text or "" for c in rec} for rec in data]
            if int(data.get("numremaining", "0")) == 0:
                return out
            fn = f"<readMore><resultId>{data.get('resultId')}</resultId></readMore>"


def clarity_levels(info):
    form = (f"grant_type=client_credentials&client_id={info['client_id']}"
            f"&client_secret={info['client_secret']}&scope=inventory%3Aread").encode()
    base = info["base_url"].rstrip("/")
    req = urllib.request.Request(base + "/oauth/token", data=form, method="POST",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        bearer = json.loads(r.read())["access_token"]
    levels, page = {}, 0
    while True:
        req = urllib.request.Request(f"{base}/api/v1/inventory?pageIndex={page}&pageSize=200",
                                     headers={"authorization": "Bearer " + bearer})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
        for it in body["results"]:
            levels[(it["sku"], it["locationId"])] = float(it["quantityOnHand"])
        if not body["hasMore"]:
            return levels
        page += 1


def main():
    data = tempfile.mkdtemp(prefix="bench-inventory-")
    port = 20000 + random.randrange(20000)
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CONNECT_BIND=f"127.0.0.1:{port}", CONNECT_DATA_DIR=data,
               CONNECT_HTTP_TIMEOUT_MS="120000", RUST_LOG="warn")
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        who = {"email": "bench@bench.test", "password": "correct horse battery"}
        call(base, "POST", "/api/v1/signup", body={"company": "Bench", **who})
        token = call(base, "POST", "/api/v1/auth/token", body=who)["token"]
        pair = call(base, "POST", "/api/v1/pairs", token,
                    {"name": "Bench", "erp": "intacct", "environment": "sandbox"})["id"]
        sandbox = call(base, "GET", f"/api/v1/pairs/{pair}/sandbox", token)
        intacct = Intacct(sandbox["intacct"])

        stock = intacct.rows("ITEMWAREHOUSEINFO", ["ITEMID", "WAREHOUSEID"])
        entity = {w["WAREHOUSEID"]: w["LOCATIONID"]
                  for w in intacct.rows("WAREHOUSE", ["WAREHOUSEID", "LOCATIONID"])}
        customer = intacct.rows("CUSTOMER", ["CUSTOMERID"], "STATUS = 'active'")[0]["CUSTOMERID"]
        rows = sorted({(r["ITEMID"], r["WAREHOUSEID"]) for r in stock})[:ROWS]
        if len(rows) < ROWS:
            sys.exit(f"the sandbox has {len(rows)} stock rows, fewer than ROWS={ROWS}")

        def move(k):
            item, wh = rows[k % len(rows)]
            return (
                "<create_sotransaction><transactiontype>Sales Return</transactiontype>"
                "<datecreated><year>2026</year><month>12</month><day>01</day></datecreated>"
                f"<customerid>{customer}</customerid><referenceno>bench-{k}</referenceno>"
                "<termname>Net 30</termname><sotransitems><sotransitem>"
                f"<itemid>{item}</itemid><warehouseid>{wh}</warehouseid><quantity>1</quantity>"
                f"<price>1.00</price><locationid>{entity.get(wh, '')}</locationid>"
                "</sotransitem></sotransitems></create_sotransaction>"
            )

        t_load = time.monotonic()
        for start in range(0, CHANGES, PER_REQUEST):
            intacct.request([move(k) for k in range(start, min(start + PER_REQUEST, CHANGES))])
        load_s = time.monotonic() - t_load
        after = {(r["ITEMID"], r["WAREHOUSEID"]): float(r["ONHAND"])
                 for r in intacct.rows("ITEMWAREHOUSEINFO", ["ITEMID", "WAREHOUSEID", "ONHAND"])}
        want = {row: after[row] for row in rows}

        call(base, "PUT", f"/api/v1/pairs/{pair}/sandbox/faults", token,
             {"system": "intacct", "latency_ms": LATENCY_MS, "concurrency_limit": 2})
        t0 = time.monotonic()
        call(base, "PUT", f"/api/v1/pairs/{pair}/flows/inventory", token, {"enabled": True})
        call(base, "POST", f"/api/v1/pairs/{pair}/flows/inventory/run", token,
             expect=(202, 409))
        while True:
            if time.monotonic() - t0 > DEADLINE_S:
                sys.exit("timed out waiting for Clarity to hold every level")
            flow = call(base, "GET", f"/api/v1/pairs/{pair}/flows/inventory", token)
            done = flow["counts_24h"]["succeeded"] + flow["counts_24h"]["failed"]
            if done >= len(rows):
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        runs = call(base, "GET", f"/api/v1/pairs/{pair}/runs?flow=inventory&limit=500", token)
        levels = clarity_levels(sandbox["clarity"])
        # The built-in template keeps the warehouse id as the Clarity location.
        missing = [row for row in rows if levels.get(row) != want[row]]
        reads = -(-len(rows) // 100)
        # Reads: the pages of changed rows, one request each (readByQuery, then
        # readMore), each answered after LATENCY_MS. Writes: Clarity allows 120
        # a minute, which the shared limiter paces evenly, one each 500 ms.
        ceiling = reads * LATENCY_MS / 1000 + len(rows) / 2.0
        print(json.dumps({
            "changes": CHANGES, "rows": len(rows), "load_s": round(load_s, 1),
            "runs": len(runs), "failed": flow["counts_24h"]["failed"],
            "rows_not_in_clarity": len(missing), "seconds": round(elapsed, 2),
            "ceiling_s": round(ceiling, 2), "changes_per_s": round(CHANGES / elapsed, 1),
        }))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
