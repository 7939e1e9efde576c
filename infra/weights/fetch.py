#!/usr/bin/env python3
"""gpuform's weight pull: parallel, ranged, resumable downloads, each file checked against the
manifest before it gets its final name. Shipped to every node (docs/weights.md).

It runs on the node's own Python (3.6 on Oracle Linux 8, newer on Ubuntu) with the standard
library alone, so it is written without 3.7+ syntax or modules. Sources:

  --base-url URL   GET URL + PREFIX/NAME: a bucket's read-only PAR (https://objectstorage.
                   REGION.oraclecloud.com/p/TOKEN/n/NS/b/BUCKET/o/), or a path-style bucket URL
  --oci R/NS/B     OCI's native Object Storage API signed by instance principal (the oci SDK)
  --hub MODEL_ID   the Hugging Face hub, its own hashes as the manifest

Exit 0 when every file is verified in --dest; else 1 with one `gpuform:` line on stderr. Details
go to --log. Bytes land in DEST.partial/NAME.part, with finished ranges logged beside them so a
killed pull resumes; a file is renamed into DEST only after its hash matches.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Callable, Dict, List, NamedTuple, Optional, Set, Tuple

MANIFEST = "gpuform-manifest.json"
FORMAT = "gpuform-weights/1"
HUB = "https://huggingface.co"
MiB = 1 << 20
# Hub repos often carry the same weights twice (PyTorch .bin beside .safetensors, Meta's
# original/ checkpoints); engines load safetensors when present, so only those are pulled.
_DUPLICATE_FORMATS = (".bin", ".pt", ".pth", ".h5", ".msgpack", ".ot", ".onnx", ".gguf")

Headers = Dict[str, str]
Signer = Callable[[str, Headers], Headers]


class Failure(Exception):
    """What the journal's one line says."""


class Entry(NamedTuple):
    name: str
    size: int
    sha256: str
    git_sha1: str  # the hub's git blob id, for small files it keeps outside LFS


class Source(NamedTuple):
    what: str
    url: Callable[[str], str]
    sign: Optional[Signer]


class Log:
    def __init__(self, path: Optional[str]) -> None:
        self._fh = open(path, "a") if path else sys.stderr  # noqa: SIM115
        self._lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        with self._lock:
            self._fh.write(time.strftime("%H:%M:%S ") + msg + "\n")
            self._fh.flush()


# --- HTTP -----------------------------------------------------------------------------------


def _transient(err: Exception) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code == 429
    return isinstance(err, (urllib.error.URLError, OSError, http.client.HTTPException))


def http_get(
    src: Source, url: str, headers: Headers, log: Log, tries: int = 5, timeout: float = 60
) -> Any:
    """An open response for GET url, retrying what a retry can fix."""
    delay = 1.0
    for attempt in range(1, tries + 1):
        h = dict(headers)
        if src.sign is not None:
            h = src.sign(url, h)
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers=h), timeout=timeout)
        except Exception as err:  # every failure is logged; permanent ones end the pull
            log("GET {} failed (try {}/{}): {}".format(_safe(url), attempt, tries, err))
            if attempt == tries or not _transient(err):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 10)
    raise AssertionError("unreachable")


def _safe(url: str) -> str:
    # A PAR's token is a bearer credential; keep it out of logs.
    parts = url.split("/p/", 1)
    return parts[0] + "/p/<token>/" + parts[1].split("/", 1)[1] if len(parts) == 2 else url


def _read_json(src: Source, url: str, log: Log, tries: int) -> Any:
    with http_get(src, url, {}, log, tries) as resp:
        body = resp.read()
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        what = "{} answered {} with something other than JSON".format(src.what, _safe(url))
        raise Failure(what) from None


# --- manifests ------------------------------------------------------------------------------


def entries_from(doc: Any) -> List[Entry]:
    """The files a manifest document lists, checked for shape."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise Failure("the manifest is not a {} document".format(FORMAT))
    out = []
    for f in doc["files"]:
        name = str(f["name"])
        if name.startswith("/") or ".." in name.split("/"):
            raise Failure("the manifest names an unsafe path {!r}".format(name))
        out.append(Entry(name, int(f["size"]), f.get("sha256", ""), f.get("git_sha1", "")))
    return out


def manifest_doc(entries: List[Entry]) -> Dict[str, Any]:
    files = []
    for e in entries:
        f = {"name": e.name, "size": e.size}  # type: Dict[str, Any]
        if e.sha256:
            f["sha256"] = e.sha256
        if e.git_sha1:
            f["git_sha1"] = e.git_sha1
        files.append(f)
    return {"format": FORMAT, "files": files}


def hub_entries(info: Dict[str, Any]) -> List[Entry]:
    """The files to pull from a hub model's metadata (GET /api/models/ID/revision/REV?blobs=1)."""
    siblings = info.get("siblings") or []
    names = [s["rfilename"] for s in siblings]
    has_st = any(n.endswith(".safetensors") for n in names)
    out = []
    for s in siblings:
        name = s["rfilename"]
        if name.startswith(".") or (
            has_st and (name.endswith(_DUPLICATE_FORMATS) or name.startswith("original/"))
        ):
            continue
        lfs = s.get("lfs") or {}
        size = int(lfs.get("size", s.get("size", -1)))
        if size < 0:
            raise Failure("the hub lists {} without a size".format(name))
        out.append(Entry(name, size, lfs.get("sha256", ""), "" if lfs else s.get("blobId", "")))
    if not out:
        raise Failure("the hub lists no files for this model")
    return out


# --- hashing --------------------------------------------------------------------------------


def file_digest(path: str, e: Entry) -> str:
    """The digest of `path` in the manifest's terms (sha256, or the hub's git blob sha1)."""
    h = hashlib.sha256() if e.sha256 else hashlib.sha1()
    if not e.sha256:
        h.update("blob {}\0".format(os.path.getsize(path)).encode())
    with open(path, "rb") as fh:
        buf = bytearray(8 * MiB)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def expected(e: Entry) -> str:
    return e.sha256 or e.git_sha1


def verify_file(path: str, e: Entry) -> Optional[str]:
    """None when `path` is exactly `e`; else what is wrong with it."""
    if not os.path.isfile(path):
        return "missing"
    size = os.path.getsize(path)
    if size != e.size:
        return "size {} instead of {}".format(size, e.size)
    got = file_digest(path, e)
    if got != expected(e):
        return "{} {} instead of {}".format("sha256" if e.sha256 else "git sha1", got, expected(e))
    return None


class Stamps:
    """Files verified before, by (size, mtime): a reboot does not hash 700 GB again."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data = {}  # type: Dict[str, List[Any]]
        if path and os.path.isfile(path):
            try:
                with open(path) as fh:
                    self._data = json.load(fh)
            except ValueError:
                self._data = {}

    def _key(self, path: str) -> List[Any]:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]

    def known(self, path: str, e: Entry) -> bool:
        with self._lock:
            seen = self._data.get(path)
        try:
            return seen == [*self._key(path), expected(e)]
        except OSError:
            return False

    def add(self, path: str, e: Entry) -> None:
        with self._lock:
            self._data[path] = [*self._key(path), expected(e)]
            if self.path:
                _write_atomic(self.path, json.dumps(self._data))


def _write_atomic(path: str, text: str) -> None:
    tmp = "{}.{}.tmp".format(path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --- the pull -------------------------------------------------------------------------------


class Pull:
    def __init__(self, src: Source, entries: List[Entry], dest: str, args: Any, log: Log):
        self.src, self.entries, self.dest, self.log = src, entries, dest, log
        self.partial = dest.rstrip("/") + ".partial"
        self.chunk = max(1, int(args.chunk_mb)) * MiB
        self.workers = max(1, int(args.workers))
        self.stamps = Stamps(args.state)
        self.read_only = bool(args.verify_only)
        self.lock = threading.Lock()
        self.fetched = 0
        self.hash_s = 0.0
        self.problems = {}  # type: Dict[str, str]

    def final(self, e: Entry) -> str:
        return os.path.join(self.dest, e.name)

    def part(self, e: Entry) -> str:
        return os.path.join(self.partial, e.name + ".part")

    def check(self, path: str, e: Entry) -> Optional[str]:
        t0 = time.monotonic()
        problem = verify_file(path, e)
        with self.lock:
            self.hash_s += time.monotonic() - t0
        return problem

    def present(self, e: Entry) -> bool:
        """A file already in DEST counts only once verified; a bad one is removed."""
        path = self.final(e)
        if not os.path.exists(path):
            return False
        if self.stamps.known(path, e):
            return True
        problem = self.check(path, e)
        if problem is None:
            self.stamps.add(path, e)
            return True
        self.log("{}: {} in the cache".format(e.name, problem))
        if not self.read_only:
            os.remove(path)  # fetched again, never served
        return False

    def ranges(self, e: Entry) -> List[Tuple[int, int]]:
        return [(a, min(a + self.chunk, e.size) - 1) for a in range(0, e.size, self.chunk)]

    def _done(self, e: Entry) -> Set[int]:
        done = set()  # type: Set[int]
        part = self.part(e)
        if os.path.isfile(part) and os.path.getsize(part) == e.size:
            try:
                with open(part + ".done") as fh:
                    done = {int(x) for x in fh.read().split() if x.isdigit()}
            except OSError:
                pass
        else:
            os.makedirs(os.path.dirname(part), exist_ok=True)
            with open(part, "wb") as fh:
                fh.truncate(e.size)
            with open(part + ".done", "w"):
                pass
        return done

    def fetch_range(self, e: Entry, idx: int, a: int, b: int, done_log: IO[str]) -> None:
        url = self.src.url(e.name)
        headers = {"Range": "bytes={}-{}".format(a, b)}
        for attempt in range(1, 6):
            try:
                self._copy(url, headers, e, a, b)
                break
            except Failure:
                raise
            except Exception as err:  # a dropped stream restarts its range
                self.log("{} bytes {}-{}: {} (try {}/5)".format(e.name, a, b, err, attempt))
                if attempt == 5 or not _transient(err):
                    why = "cannot fetch {} from {}: {}".format(e.name, self.src.what, err)
                    raise Failure(why) from err
                time.sleep(attempt)
        with self.lock:
            self.fetched += b - a + 1
            done_log.write("{}\n".format(idx))
            done_log.flush()

    def _copy(self, url: str, headers: Headers, e: Entry, a: int, b: int) -> None:
        with http_get(self.src, url, headers, self.log, tries=3) as resp:
            if resp.status == 200 and (a, b) != (0, e.size - 1):
                raise Failure("{} ignores HTTP Range requests".format(self.src.what))
            fd = os.open(self.part(e), os.O_WRONLY)
            try:
                buf = bytearray(min(4 * MiB, b - a + 1))
                view = memoryview(buf)
                pos = a
                while pos <= b:
                    n = resp.readinto(view[: min(len(buf), b + 1 - pos)])
                    if not n:
                        raise OSError("stream ended at byte {} of {}-{}".format(pos, a, b))
                    os.pwrite(fd, view[:n], pos)
                    pos += n
            finally:
                os.close(fd)

    def download(self, e: Entry, pool: ThreadPoolExecutor) -> None:
        """Fetch the missing ranges of `e`, then verify it and move it into DEST."""
        done = self._done(e)
        todo = [(i, a, b) for i, (a, b) in enumerate(self.ranges(e)) if i not in done]
        if done:
            self.log(
                "{}: resuming, {} of {} ranges there".format(
                    e.name, len(done), len(done) + len(todo)
                )
            )
        with open(self.part(e) + ".done", "a") as done_log:
            futures = [pool.submit(self.fetch_range, e, i, a, b, done_log) for i, a, b in todo]
            errors = [err for err in (f.exception() for f in futures) if err is not None]
        if errors:
            raise errors[0]
        problem = self.check(self.part(e), e)
        if problem is not None:
            # Never served: the bad copy is dropped, and the next round fetches it whole.
            os.remove(self.part(e))
            raise Failure("{} failed verification: {}".format(e.name, problem))
        os.makedirs(os.path.dirname(self.final(e)), exist_ok=True)
        os.replace(self.part(e), self.final(e))
        os.remove(self.part(e) + ".done")
        self.stamps.add(self.final(e), e)

    def run(self, rounds: int = 3) -> None:
        os.makedirs(self.dest, exist_ok=True)
        # Ranges of every file share one pool; files are walked by a second one so a big
        # file's ranges and many small files keep all workers busy.
        with ThreadPoolExecutor(self.workers) as ranges, ThreadPoolExecutor(self.workers) as files:
            there = files.map(self.present, self.entries)
            missing = [e for e, ok in zip(self.entries, there) if not ok]
            for n in range(1, rounds + 1):
                if not missing:
                    break
                self.log("round {}: fetching {} file(s)".format(n, len(missing)))
                failed = []
                errs = files.map(lambda e: _try(self.download, e, ranges), missing)
                for e, err in zip(missing, errs):
                    if err is not None:
                        self.log("{}: {}".format(e.name, err))
                        self.problems[e.name] = str(err)
                        failed.append(e)
                missing = failed
        if missing:
            e = missing[0]
            more = " (and {} more)".format(len(missing) - 1) if len(missing) > 1 else ""
            raise Failure("{}{}".format(self.problems[e.name], more))
        self._tidy()

    def _tidy(self) -> None:
        keep = {os.path.normpath(e.name) for e in self.entries} | {MANIFEST}
        for root, _dirs, names in os.walk(self.dest):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), self.dest)
                if rel not in keep:
                    os.remove(os.path.join(root, n))
        shutil.rmtree(self.partial, ignore_errors=True)


def _try(fn: Callable[..., None], *args: Any) -> Optional[Exception]:
    try:
        fn(*args)
        return None
    except Exception as err:
        return err


# --- sources --------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="/")


def _instance_principal() -> Signer:
    try:
        import oci  # type: ignore[import-not-found,unused-ignore]  # installed by weights.sh
        import requests  # type: ignore[import-untyped,unused-ignore]
    except ImportError as err:
        raise Failure("instance principal signing needs the oci SDK ({})".format(err)) from None

    signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
    lock = threading.Lock()

    def sign(url: str, headers: Headers) -> Headers:
        req = requests.Request("GET", url, headers=headers).prepare()
        with lock:
            signer(req)
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()}

    return sign


def source(args: Any, log: Log) -> Tuple[Source, List[Entry]]:
    """Where to fetch from, and the manifest there."""
    tries = 5
    if args.hub:
        base = (args.hub_endpoint or os.environ.get("HF_ENDPOINT") or HUB).rstrip("/")
        model = args.hub
        api = "{}/api/models/{}/revision/{}?blobs=true".format(base, model, _quoted(args.revision))
        hub = Source("the model hub ({})".format(base.split("//")[-1]), lambda n: n, None)
        info = _read_json(hub, api, log, tries)
        sha = info.get("sha") or args.revision

        def url(name: str) -> str:
            return "{}/{}/resolve/{}/{}".format(base, model, sha, _quoted(name))

        return Source(hub.what, url, None), hub_entries(info)
    prefix = (args.prefix.strip("/") + "/") if args.prefix else ""
    if args.base_url:
        base = args.base_url if args.base_url.endswith("/") else args.base_url + "/"
        src = Source("the bucket", lambda n: base + _quoted(prefix + n), None)
    else:
        region, ns, bucket = args.oci.split("/")
        base = "https://objectstorage.{}.oraclecloud.com/n/{}/b/{}/o/".format(region, ns, bucket)
        src = Source(
            "bucket {}".format(bucket), lambda n: base + _quoted(prefix + n), _instance_principal()
        )
    # Policies and PARs reach Object Storage a little after `terraform apply` returns.
    deadline = time.monotonic() + args.auth_wait
    while True:
        try:
            return src, entries_from(_read_json(src, src.url(MANIFEST), log, tries))
        except urllib.error.HTTPError as err:
            if err.code not in (401, 403, 404) or time.monotonic() > deadline:
                raise
            time.sleep(10)


def _cached(dest: str) -> Optional[List[Entry]]:
    path = os.path.join(dest, MANIFEST)
    try:
        with open(path) as fh:
            return entries_from(json.load(fh))
    except (OSError, ValueError, KeyError, Failure):
        return None


def _why(err: Exception, what: str) -> str:
    if isinstance(err, urllib.error.HTTPError):
        if err.code in (401, 403):
            return "{} refused access (HTTP {}); check the PAR or the instance policy".format(
                what, err.code
            )
        if err.code == 404:
            return "{} has no {} (HTTP 404); run `gpuform weights push` first".format(
                what, MANIFEST
            )
        return "{} answered HTTP {}".format(what, err.code)
    reason = getattr(err, "reason", err)
    if what.startswith("the model hub"):
        return "cannot reach {} ({}); the node needs internet access".format(what, reason)
    return "cannot reach {} ({}); check the service gateway or internet access".format(what, reason)


def pull(args: Any, log: Log) -> Tuple[int, float, float]:
    """Verified weights in args.dest; (bytes fetched, seconds, seconds spent hashing)."""
    t0 = time.monotonic()
    what = "the model hub" if args.hub else "the bucket"
    try:
        src, entries = source(args, log)
    except Failure:
        raise
    except Exception as err:
        cached = _cached(args.dest)
        if cached is None:
            raise Failure(_why(err, what)) from None
        # Rebooted without the source: what was verified before is still good.
        log("{}; checking the cached manifest instead".format(_why(err, what)))
        src, entries = Source(what, lambda n: n, None), cached
        args.verify_only = True
    job = Pull(src, entries, args.dest, args, log)
    if args.verify_only:
        with ThreadPoolExecutor(job.workers) as pool:
            bad = [e.name for e, ok in zip(entries, pool.map(job.present, entries)) if not ok]
        if bad:
            more = " (and {} more)".format(len(bad) - 1) if len(bad) > 1 else ""
            raise Failure("{}{} missing or corrupt in read-only {}".format(bad[0], more, args.dest))
    else:
        job.run()
    _write_atomic(os.path.join(args.dest, MANIFEST), json.dumps(manifest_doc(entries), indent=1))
    return job.fetched, time.monotonic() - t0, job.hash_s


def parse(argv: Optional[List[str]] = None) -> Any:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--base-url")
    src.add_argument("--oci", metavar="REGION/NAMESPACE/BUCKET")
    src.add_argument("--hub", metavar="MODEL_ID")
    p.add_argument("--revision", default="main")
    p.add_argument("--hub-endpoint")
    p.add_argument("--prefix", default="")
    p.add_argument("--dest", required=True)
    p.add_argument("--state", help="JSON of verified files (size, mtime, hash)")
    p.add_argument("--log")
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--chunk-mb", type=int, default=64)
    p.add_argument("--auth-wait", type=float, default=600)
    p.add_argument("--verify-only", action="store_true", help="a read-only cache: check only")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    log = Log(args.log)
    detail = " (details: {})".format(args.log) if args.log else ""
    try:
        fetched, secs, hash_s = pull(args, log)
    except Failure as err:
        print("gpuform: weights: {}{}".format(err, detail), file=sys.stderr)
        return 1
    total = sum(os.path.getsize(os.path.join(args.dest, e.name)) for e in _cached(args.dest) or [])
    rate = fetched / secs / 1e9 if secs > 0 else 0.0
    msg = (
        "gpuform: weights: {:.2f} GB verified in {} "
        "(fetched {:.2f} GB in {:.0f}s, {:.2f} GB/s; hashing {:.0f}s)"
    )
    print(msg.format(total / 1e9, args.dest, fetched / 1e9, secs, rate, hash_s))
    log("done: " + msg.format(total / 1e9, args.dest, fetched / 1e9, secs, rate, hash_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
