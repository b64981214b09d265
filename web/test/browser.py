#!/usr/bin/env python3
"""Browser test of the sealstream web page (web/dist) against the local S3 server.

Headless Chromium (Debian's chromium + chromium-driver), driven by selenium, opens share links
made by `sealstream share --web-page` and an upload link made by `sealstream upload-link`:

- share links of 0, 1, 16 KiB, 16 KiB + 1 and 50 MiB save byte-identical files (the 50 MiB one
  through the service worker's streaming download, the small ones from memory after the last
  chunk authenticated);
- a tampered object (small: all-or-nothing; large: a streaming download) and a wrong key are
  refused with the page's message, and no file is saved under the object's name;
- a 20 MiB file sealed and uploaded by the page opens with `sealstream get --identity`;
- with --perf: a 200 MiB share link against a plain download of the same object, same browser.

The page is served from 127.0.0.1 on a port of its own and S3 (weed) on another, so CORS is
real: the bucket gets the rule of `sealstream cors --apply`. A screenshot of each page state
goes to the artefacts folder.

Needs: the services' env (scripts/services env), --cli (the sealstream binary), --dist.
"""
import argparse
import functools
import hashlib
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

MIB = 1024 * 1024
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append((name, ok))
    print(f"{'ok' if ok else 'FAIL'}   {name}{': ' + detail if detail else ''}", flush=True)


REQUESTS = []  # every request line the page's host received


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, *args):
        REQUESTS.append(self.requestline + " " + str(self.headers.get("Referer")))


def serve(dist):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=dist))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Cli:
    def __init__(self, exe, home, endpoint):
        self.exe, self.env = exe, dict(os.environ, HOME=home, SEALSTREAM_ENDPOINT_URL=endpoint)

    def __call__(self, *args, json_out=False):
        cmd = [self.exe, *(["--json"] if json_out else []), "-q", *args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"sealstream {' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip()}")
        return json.loads(r.stdout.splitlines()[-1]) if json_out else r.stdout


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def write_random(path, size, seed):
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(rnd.randbytes(n))
            left -= n


class Browser:
    def __init__(self, artifacts):
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,800",
                  "--disable-gpu", "--no-first-run", "--disable-features=DownloadBubble"]:
            opts.add_argument(a)
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                       options=opts)
        self.driver.set_script_timeout(600)
        self.artifacts = artifacts

    def downloads_to(self, folder):
        os.makedirs(folder, exist_ok=True)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": folder, "eventsEnabled": True})

    def state(self):
        return self.driver.execute_script("return document.body.dataset.state")

    def wait_state(self, wanted, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.state()
            if s in wanted:
                return s
            time.sleep(0.05)
        return self.state()

    def text(self, el_id):
        return self.driver.find_element(By.ID, el_id).text

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(self.artifacts, f"{name}.png"))

    def quit(self):
        self.driver.quit()


def wait_file(folder, name, size, timeout=300):
    """Waits until FOLDER/NAME (any file if NAME is None) has SIZE bytes and no partial
    download remains."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = os.listdir(folder)
        if not any(f.endswith(".crdownload") for f in files):
            for f in files if name is None else [name]:
                path = os.path.join(folder, f)
                if os.path.exists(path) and os.path.getsize(path) == size:
                    return path
        time.sleep(0.02)
    return None


def open_link(b, link, folder, shot_prefix):
    b.downloads_to(folder)
    b.driver.get("about:blank")
    b.driver.get(link)
    s = b.wait_state({"open-ready", "open-error", "link-error"})
    b.shot(f"{shot_prefix}-{s}")
    if s != "open-ready":
        return s
    b.driver.find_element(By.ID, "open-save").click()
    if b.wait_state({"open-progress", "open-done", "open-error"}, timeout=10) == "open-progress":
        b.shot(f"{shot_prefix}-open-progress")
    s = b.wait_state({"open-done", "open-error"}, timeout=600)
    b.shot(f"{shot_prefix}-{s}")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dist", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--perf", action="store_true", help="also the 200 MiB throughput comparison")
    ap.add_argument("--perf-only", action="store_true", help="only the throughput comparison")
    args = ap.parse_args()
    endpoint = os.environ["SEALSTREAM_TEST_S3_ENDPOINT"]
    bucket = os.environ.get("SEALSTREAM_TEST_S3_BUCKET", "sealstream-test")
    os.makedirs(args.artifacts, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sealstream-web-")
    home = os.path.join(work, "home")
    os.makedirs(home)
    cli = Cli(os.path.abspath(args.cli), home, endpoint)
    srv = serve(os.path.abspath(args.dist))
    page = f"http://127.0.0.1:{srv.server_address[1]}/index.html"
    prefix = f"web-test-{os.getpid()}-{random.randrange(1 << 30):x}"
    key = os.path.join(work, "owner.key")
    cli("keygen", "-o", key)
    out = cli("cors", f"s3://{bucket}", "--origin", page, "--apply", json_out=True)
    check("cors --apply sets the rule on the bucket", out.get("applied") is True)

    b = Browser(args.artifacts)
    try:
        if args.perf_only:
            import boto3
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))
            b.driver.get(page)
            b.wait_state({"home"})
            perf(b, cli, work, bucket, prefix, key, page, s3)
            return finish()
        b.driver.get(page)
        check("the page without a link shows its home state", b.wait_state({"home"}) == "home")
        b.shot("home")
        b.driver.get("about:blank")
        b.driver.get(page + "#k=tooshort&u=aHR0cDovL3g")
        s = b.wait_state({"link-error"}, timeout=10)
        b.shot("link-error")
        check("a damaged link is refused with the page's message", s == "link-error" and "43 base64url" in b.text("link-error-msg"),
              b.text("link-error-msg"))

        # Share links of every size that matters.
        for size in [0, 1, 16384, 16385, 50 * MIB]:
            name = f"share-{size}.bin"
            src = os.path.join(work, name)
            write_random(src, size, size)
            obj = f"s3://{bucket}/{prefix}/{name}"
            cli("put", src, obj, "--key-file", key)
            link = cli("share", obj, "--key-file", key, "--web-page", page, json_out=True)["link"]
            folder = os.path.join(work, f"dl-{size}")
            s = open_link(b, link, folder, f"share-{size}")
            got = wait_file(folder, name, size) if s == "open-done" else None
            check(f"share link of {size} bytes saves a byte-identical file", got is not None and sha256_file(got) == sha256_file(src),
                  f"state {s}, {b.text('open-status')!r}")
            if size == 1:
                # The fragment is gone from the address bar and the history once read.
                check("the page removes the fragment from its URL", "#" not in b.driver.current_url)

        # Suite 2 (XChaCha20-Poly1305, @noble in the page), 1 MiB + 5.
        size = MIB + 5
        src = os.path.join(work, "share-xchacha.bin")
        write_random(src, size, 2)
        obj = f"s3://{bucket}/{prefix}/share-xchacha.bin"
        cli("put", src, obj, "--key-file", key, "--suite", "xchacha20-poly1305")
        link = cli("share", obj, "--key-file", key, "--web-page", page, json_out=True)["link"]
        folder = os.path.join(work, "dl-xchacha")
        s = open_link(b, link, folder, "share-xchacha")
        got = wait_file(folder, "share-xchacha.bin", size) if s == "open-done" else None
        check("a suite-2 (XChaCha20-Poly1305) share link saves a byte-identical file",
              got is not None and sha256_file(got) == sha256_file(src), f"state {s}, {b.text('open-status')!r}")

        # Offline once loaded: the service worker serves the page with the network cut.
        b.driver.get("about:blank")
        b.driver.execute_cdp_cmd("Network.enable", {})
        b.driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                                 {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        seen = len(REQUESTS)
        b.driver.get(page)
        s = b.wait_state({"home"}, timeout=15)
        b.shot("offline-home")
        check("the page loads offline once loaded (service worker cache)", s == "home" and len(REQUESTS) == seen, f"state {s}")
        b.driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                                 {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

        # Wrong key: the 1-byte object's link with another key.
        link = cli("share", f"s3://{bucket}/{prefix}/share-1.bin", "--key-file", key, "--web-page", page, json_out=True)["link"]
        frag = dict(p.split("=", 1) for p in link.split("#", 1)[1].split("&"))
        wrong = link.split("#")[0] + "#k=" + ("A" * 42 + "E") + "&u=" + frag["u"]
        folder = os.path.join(work, "dl-wrong-key")
        s = open_link(b, wrong, folder, "wrong-key")
        msg = b.text("open-status")
        check("a wrong key is refused with the page's message", s == "open-error" and "key does not open" in msg, msg)
        check("a wrong key saves no file", os.listdir(folder) == [], str(os.listdir(folder)))

        # Tampered objects: shared while intact, then one ciphertext byte flipped in S3.
        import boto3
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))
        for size, chunk, label in [(200 * 1024, 5, "small"), (40 * MIB, 2000, "streamed")]:
            name = f"tamper-{label}.bin"
            src = os.path.join(work, name)
            write_random(src, size, 7)
            obj = f"s3://{bucket}/{prefix}/{name}"
            cli("put", src, obj, "--key-file", key)
            link = cli("share", obj, "--key-file", key, "--web-page", page, json_out=True)["link"]
            body = bytearray(s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read())
            body[4152 + chunk * 16400 + 100] ^= 0x01
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=bytes(body))
            folder = os.path.join(work, f"dl-tamper-{label}")
            s = open_link(b, link, folder, f"tamper-{label}")
            msg = b.text("open-status")
            check(f"a tampered object ({label}) is refused, naming chunk {chunk}", s == "open-error" and f"chunk {chunk}" in msg, msg)
            time.sleep(1.0)
            left = os.listdir(folder)
            check(f"a tampered object ({label}) leaves no file under its name", name not in left, str(left))

        # Browser upload, opened by the CLI.
        ident = os.path.join(work, "owner.x25519")
        pub = cli("keygen", "--x25519", "-o", ident).strip().splitlines()[-1].strip()
        name = "upload-20MiB.bin"
        src = os.path.join(work, name)
        write_random(src, 20 * MIB, 20)
        obj = f"s3://{bucket}/{prefix}/{name}"
        up = cli("upload-link", obj, "--recipient", pub, "--web-page", page, "--max-size", "64MiB", json_out=True)
        b.driver.get("about:blank")
        b.driver.get(up["link"])
        s = b.wait_state({"upload-ready", "link-error"})
        b.shot(f"upload-{s}")
        check("an upload link shows the upload form", s == "upload-ready", b.text("link-error-msg") if s == "link-error" else "")
        if s == "upload-ready":
            b.driver.find_element(By.ID, "upload-file").send_keys(src)
            b.driver.find_element(By.ID, "upload-go").click()
            b.wait_state({"upload-progress", "upload-done", "upload-error"}, timeout=10)
            b.shot("upload-progress")
            s = b.wait_state({"upload-done", "upload-error"}, timeout=300)
            b.shot(f"upload-{s}")
            check("the page seals and uploads 20 MiB", s == "upload-done", b.text("upload-status"))
            restored = os.path.join(work, "restored.bin")
            try:
                cli("get", obj, restored, "--identity", ident)
                same = sha256_file(restored) == sha256_file(src)
            except RuntimeError as e:
                same = False
                print(e)
            check("`sealstream get --identity` opens the browser's upload byte-identical", same)

        # The page's host never saw a fragment, a key or a presigned URL (nor as a Referer).
        leaked = [r for r in REQUESTS if "k=" in r or "X-Amz" in r or "up=" in r or "#" in r]
        check("the page's host received no key, fragment or presigned URL", REQUESTS and not leaked, str(leaked[:3]))

        # A file larger than the link allows: refused in the page, nothing sent.
        small = cli("upload-link", f"s3://{bucket}/{prefix}/too-big.bin", "--recipient", pub, "--web-page", page,
                    "--max-size", "5MiB", json_out=True)
        b.driver.get("about:blank")
        b.driver.get(small["link"])
        if b.wait_state({"upload-ready"}) == "upload-ready":
            b.driver.find_element(By.ID, "upload-file").send_keys(src)
            b.driver.find_element(By.ID, "upload-go").click()
            s = b.wait_state({"upload-error", "upload-done"}, timeout=60)
            b.shot(f"upload-too-big-{s}")
            check("a file over the link's --max-size is refused by the page", s == "upload-error" and "at most" in b.text("upload-status"),
                  b.text("upload-status"))
        cli("cleanup", f"s3://{bucket}/{prefix}/", "--older-than", "0")

        if args.perf:
            perf(b, cli, work, bucket, prefix, key, page, s3)
    finally:
        b.quit()
        srv.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return finish()


def finish():
    failed = [n for n, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def perf(b, cli, work, bucket, prefix, key, page, s3):
    size = 200 * MIB
    name = "perf-200MiB.bin"
    src = os.path.join(work, name)
    write_random(src, size, 200)
    obj = f"s3://{bucket}/{prefix}/{name}"
    cli("put", src, obj, "--key-file", key)
    link = cli("share", obj, "--key-file", key, "--web-page", page, json_out=True)["link"]
    plain_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": f"{prefix}/{name}"}, ExpiresIn=3600)
    stored = s3.head_object(Bucket=bucket, Key=f"{prefix}/{name}")["ContentLength"]
    rounds = []
    for r in range(2):
        # Plain: the browser downloads the sealed object itself (no decryption) to disk.
        folder = os.path.join(work, f"perf-plain-{r}")
        b.downloads_to(folder)
        b.driver.get(page)
        t0 = time.time()
        # A cross-origin link: Chromium ignores `download` and saves it under the key's name.
        b.driver.execute_script("const a=document.createElement('a');a.href=arguments[0];document.body.append(a);a.click();", plain_url)
        ok = wait_file(folder, None, stored) is not None
        plain_s = time.time() - t0
        # sealstream: the page opens, authenticates, decrypts and streams it to disk.
        folder = os.path.join(work, f"perf-page-{r}")
        b.downloads_to(folder)
        b.driver.get(link)
        b.wait_state({"open-ready"})
        t0 = time.time()
        b.driver.find_element(By.ID, "open-save").click()
        ok = ok and wait_file(folder, name, size) is not None
        page_s = time.time() - t0
        rounds.append((plain_s, page_s))
        print(f"perf round {r}: plain download {stored / MIB / plain_s:.0f} MiB/s ({plain_s:.2f} s), "
              f"share link {size / MIB / page_s:.0f} MiB/s ({page_s:.2f} s), ratio {page_s / plain_s:.2f}", flush=True)
        check(f"perf round {r} completed", ok)


if __name__ == "__main__":
    sys.exit(main())
