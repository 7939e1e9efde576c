#!/usr/bin/env python3
"""gpuform weight pull: ranged, parallel, resumable downloads, verified against a manifest.

Shipped to every node (docs/weights.md) and run with the node's own Python (3.6 on Oracle Linux
8, newer on Ubuntu) and the standard library alone, so it avoids 3.7+ syntax and modules.
Docstrings and comments are dropped from the shipped copy; only code costs bundle bytes.

Sources:
  --base-url URL   GET URL + PREFIX/NAME: a bucket's read-only PAR (https://objectstorage.
                   REGION.oraclecloud.com/p/TOKEN/n/NS/b/BUCKET/o/), or a path-style bucket URL
  --oci R/NS/B     OCI's native Object Storage API, each request signed by instance principal
  --hub MODEL_ID   the Hugging Face hub, with its own file hashes as the manifest

Bytes land in DEST.partial/NAME.part, finished ranges logged in NAME.part.done so that a killed
pull resumes; a file is renamed into DEST only once its size and hash match. Exit 0 when every
file is verified in DEST, else 1 with one `gpuform:` line on stderr; details go to --log.
"""

import argparse
import contextlib
import ctypes
import hashlib
import http.client
import json
import multiprocessing
import os
import re
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
MiB = 1 << 20
# Hub repos often hold the weights twice (.bin beside .safetensors, Meta's original/); engines
# load safetensors when there are any, so only those are pulled.
_TWICE = (".bin", ".pt", ".pth", ".h5", ".msgpack", ".ot", ".onnx", ".gguf")

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


_LOCK = threading.Lock()
_LOG: List[IO[str]] = [sys.stderr]


def log(msg: str) -> None:
    with _LOCK:
        _LOG[0].write(time.strftime("%H:%M:%S ") + msg + "\n")
        _LOG[0].flush()


def _transient(err: Exception) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code == 429
    return isinstance(err, (OSError, http.client.HTTPException))


def _safe(url: str) -> str:
    # A PAR's token is a bearer credential: keep it out of logs.
    head, sep, tail = url.partition("/p/")
    return head + "/p/<token>/" + tail.partition("/")[2] if sep else url


def _origin(url: str) -> Tuple[str, Optional[str], Optional[int]]:
    # urlsplit lowers scheme and host; an explicit default port counts as another origin, which
    # only ever drops a token, never sends one.
    u = urllib.parse.urlsplit(url)
    return u.scheme, u.hostname, u.port


class _SameOriginAuth(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but carries Authorization only to the origin it was meant for.

    urllib's own handler copies every header onto the redirected request, so a hub token would
    follow the hub's 302 to its CDN or xet storage, which serve presigned URLs and need none
    (huggingface_hub follows only same-site redirects with the token: file_download.py,
    _request_wrapper). Same-origin redirects (a renamed repo) keep it."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> Optional[urllib.request.Request]:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_SameOriginAuth)


def http_get(src: Source, url: str, headers: Headers, tries: int = 5) -> Any:
    """An open response for GET url, retrying what a retry can fix."""
    for n in range(1, tries + 1):
        h = src.sign(url, headers) if src.sign else headers
        try:
            return _OPENER.open(urllib.request.Request(url, headers=h), timeout=60)
        except Exception as err:  # logged; a permanent one ends the pull
            log("GET {} failed ({}/{}): {}".format(_safe(url), n, tries, err))
            if n == tries or not _transient(err):
                raise
            time.sleep(min(2**n, 10))
    raise AssertionError("unreachable")


def get_json(src: Source, url: str) -> Any:
    with http_get(src, url, {}) as resp:
        body = resp.read()
    try:
        return json.loads(body.decode())
    except ValueError:
        raise Failure("{} sent no JSON for {}".format(src.what, _safe(url))) from None


# --- manifests and hashes -------------------------------------------------------------------


def entries_from(doc: Any) -> List[Entry]:
    """The files a manifest document lists; Failure says what is wrong with a broken one."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise Failure("the manifest is not a {} document".format(FORMAT))
    files = doc.get("files")
    if not isinstance(files, list):
        raise Failure("the manifest has no list of files")
    out = []
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise Failure("the manifest's files[{}] is not an object".format(i))
        name, size = f.get("name"), f.get("size")
        sha, sha1 = f.get("sha256", ""), f.get("git_sha1", "")
        if not isinstance(name, str) or not name:
            raise Failure("the manifest's files[{}] has no name".format(i))
        if name.startswith("/") or ".." in name.split("/"):
            raise Failure("the manifest names an unsafe path {!r}".format(name))
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Failure("the manifest gives {} the size {!r}".format(name, size))
        hexes = isinstance(sha, str) and isinstance(sha1, str)
        if not (hexes and re.match(r"[0-9a-f]{64}\Z|[0-9a-f]{40}\Z", sha or sha1)):
            raise Failure("the manifest gives {} no sha256".format(name))
        out.append(Entry(name, size, sha, sha1))
    return out


def hub_entries(info: Any) -> List[Entry]:
    """Files to pull, from GET /api/models/ID/revision/REV?blobs=true."""
    try:
        return _hub_entries(info)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise Failure("the hub's file list is malformed ({!r})".format(err)) from None


def _hub_entries(info: Dict[str, Any]) -> List[Entry]:
    sibs = info.get("siblings") or []
    st = any(s["rfilename"].endswith(".safetensors") for s in sibs)
    out = []
    for s in sibs:
        name, lfs = s["rfilename"], s.get("lfs") or {}
        if name.startswith(".") or (st and (name.endswith(_TWICE) or name.startswith("original/"))):
            continue
        size = lfs.get("size", s.get("size"))
        if size is None:
            raise Failure("the hub lists {} without a size".format(name))
        out.append(Entry(name, int(size), lfs.get("sha256", ""), "" if lfs else s["blobId"]))
    if not out:
        raise Failure("the hub lists no files for this model")
    return out


def verify_file(path: str, e: Entry) -> Optional[str]:
    """None when `path` is exactly `e`, else what is wrong with it."""
    if not os.path.isfile(path):
        return "missing"
    size = os.path.getsize(path)
    if size != e.size:
        return "size {} instead of {}".format(size, e.size)
    # The hub gives small files a git blob id: sha1 of "blob SIZE\0" and the bytes.
    h = hashlib.sha256() if e.sha256 else hashlib.sha1("blob {}\0".format(size).encode())
    buf = bytearray(8 * MiB)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        for n in iter(lambda: fh.readinto(buf), 0):
            h.update(view[:n])
    want = e.sha256 or e.git_sha1
    if h.hexdigest() != want:
        kind = "sha256" if e.sha256 else "git sha1"
        return "{} {} instead of {}".format(kind, h.hexdigest(), want)
    return None


# --- the pull -------------------------------------------------------------------------------


class Chain:
    """Hashes a file's ranges in order as they land, while later ranges still download, so the
    digest is ready when the last byte is (no separate pass over the file afterwards)."""

    def __init__(self, e: Entry, part: str, ranges: List[Tuple[int, int]], have: Set[int]):
        blob = "blob {}\0".format(e.size).encode()
        self.h = hashlib.sha256() if e.sha256 else hashlib.sha1(blob)
        self.part, self.ranges, self.done = part, ranges, set(have)
        self.next, self.busy, self.secs = 0, False, 0.0
        self.lock = threading.Lock()

    def landed(self, i: int) -> None:
        """Range `i` is on disk (-1: none new); hash what is contiguous, unless a worker is."""
        with self.lock:
            self.done.add(i)
            if self.busy:
                return
            self.busy = True
        t0 = time.monotonic()
        view = memoryview(bytearray(8 * MiB))
        with open(self.part, "rb") as fh:
            while True:
                with self.lock:
                    if self.next not in self.done:
                        self.busy = False
                        self.secs += time.monotonic() - t0
                        return
                    a, b = self.ranges[self.next]
                fh.seek(a)
                while a <= b:
                    n = fh.readinto(view[: b + 1 - a])
                    if not n:
                        raise OSError("{} ends at byte {}".format(self.part, a))
                    self.h.update(view[:n])
                    a += n
                with self.lock:
                    self.next += 1


class Pull:
    def __init__(self, src: Source, entries: List[Entry], args: Any) -> None:
        self.src, self.entries, self.dest = src, entries, args.dest
        self.partial = args.dest.rstrip("/") + ".partial"
        self.chunk = max(1, args.chunk_mb) * MiB
        self.workers = max(1, args.workers)
        self.procs = max(1, args.procs)
        self.read_only = args.verify_only
        self.refused = _refused(args)
        self.lock = threading.Lock()
        self.fetched = 0
        self.hash_s = 0.0

    def check(self, path: str, e: Entry) -> Optional[str]:
        t0 = time.monotonic()
        problem = verify_file(path, e)
        with self.lock:
            self.hash_s += time.monotonic() - t0
        return problem

    def present(self, e: Entry) -> bool:
        """A file already in DEST counts once its bytes hash to the manifest's, on every run:
        bit rot keeps size and mtime, so no stamp can stand in for the content (issue 17).
        A bad one is removed, never served."""
        path = os.path.join(self.dest, e.name)
        if not os.path.exists(path):
            return False
        problem = self.check(path, e)
        if problem is None:
            return True
        log("{}: {} in the cache".format(e.name, problem))
        if not self.read_only:
            os.remove(path)
        return False

    def _fetch(self, e: Entry, chain: Chain, idx: int, a: int, b: int, done: IO[str]) -> None:
        part = chain.part
        for n in range(1, 6):
            try:
                with http_get(
                    self.src, self.src.url(e.name), {"Range": "bytes={}-{}".format(a, b)}, 3
                ) as r:
                    if r.status == 200 and (a, b) != (0, e.size - 1):
                        raise Failure("{} ignores HTTP Range requests".format(self.src.what))
                    fd = os.open(part, os.O_WRONLY)
                    try:
                        view = memoryview(bytearray(min(4 * MiB, b - a + 1)))
                        pos = a
                        while pos <= b:
                            got = r.readinto(view[: b + 1 - pos])
                            if not got:
                                raise OSError("stream ended at byte {} of {}-{}".format(pos, a, b))
                            os.pwrite(fd, view[:got], pos)
                            pos += got
                    finally:
                        os.close(fd)
                break
            except Failure:
                raise
            except Exception as err:  # a dropped stream fetches its range again
                log("{} bytes {}-{}: {} ({}/5)".format(e.name, a, b, err, n))
                if n == 5 or not _transient(err):
                    why = "cannot fetch {} from {}: {}".format(e.name, self.src.what, err)
                    if getattr(err, "code", 0) in (401, 403):
                        why += "; " + self.refused
                    raise Failure(why) from err
                time.sleep(n)
        with self.lock:
            self.fetched += b - a + 1
            done.write("{}\n".format(idx))
            done.flush()
        chain.landed(idx)

    def download(self, e: Entry, pool: ThreadPoolExecutor) -> None:
        """Fetch the missing ranges of `e`, verify it, move it into DEST."""
        part = os.path.join(self.partial, e.name + ".part")
        have: Set[int] = set()
        if os.path.isfile(part) and os.path.getsize(part) == e.size:
            with open(part + ".done") as fh:
                have = {int(x) for x in fh.read().split() if x.isdigit()}
        else:
            os.makedirs(os.path.dirname(part), exist_ok=True)
            with open(part, "wb") as fh:
                fh.truncate(e.size)
            open(part + ".done", "w").close()
        ranges = [(a, min(a + self.chunk, e.size) - 1) for a in range(0, e.size, self.chunk)]
        todo = [(i, a, b) for i, (a, b) in enumerate(ranges) if i not in have]
        if have:
            log("{}: resuming, {} of {} ranges there".format(e.name, len(have), len(ranges)))
        chain = Chain(e, part, ranges, have)
        with open(part + ".done", "a") as done:
            futures = [pool.submit(self._fetch, e, chain, i, a, b, done) for i, a, b in todo]
            errors = [f.exception() for f in futures]
        for err in errors:
            if err:
                raise err
        chain.landed(-1)  # a resumed file whose ranges were all there yet
        with self.lock:
            self.hash_s += chain.secs
        got, want = chain.h.hexdigest(), e.sha256 or e.git_sha1
        problem = None
        if chain.next != len(ranges) or got != want:
            kind = "sha256" if e.sha256 else "git sha1"
            problem = "{} {} instead of {}".format(kind, got, want)
        if problem:
            os.remove(part)  # never served; the next round fetches it whole
            raise Failure("{} failed verification: {}".format(e.name, problem))
        final = os.path.join(self.dest, e.name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(part, final)
        os.remove(part + ".done")

    def rounds(self, missing: List[Entry]) -> List[str]:
        """Fetch `missing`, three rounds at most; what is still wrong, one line per file."""
        # Ranges of every file share one pool, files are walked by another: a big shard's
        # ranges and many small files keep all workers busy.
        with ThreadPoolExecutor(self.workers) as ranges, ThreadPoolExecutor(self.workers) as files:

            def attempt(e: Entry) -> Optional[str]:
                try:
                    self.download(e, ranges)
                    return None
                except Exception as err:
                    log("{}: {}".format(e.name, err))
                    return str(err)

            failed: List[str] = []
            for n in range(1, 4):
                if not missing:
                    break
                log("round {}: fetching {} file(s)".format(n, len(missing)))
                errs = list(files.map(attempt, missing))
                failed = [err for err in errs if err is not None]
                missing = [e for e, err in zip(missing, errs) if err is not None]
        return failed

    def run(self) -> None:
        os.makedirs(self.dest, exist_ok=True)
        with ThreadPoolExecutor(self.workers) as pool:
            missing = [
                e for e, ok in zip(self.entries, pool.map(self.present, self.entries)) if not ok
            ]
        if self.read_only and missing:
            more = " (and {} more)".format(len(missing) - 1) if len(missing) > 1 else ""
            raise Failure(
                "{}{} missing or corrupt in read-only {}".format(missing[0].name, more, self.dest)
            )
        procs = min(self.procs, len(missing))
        failed = self.forked(missing, procs) if procs > 1 else self.rounds(missing)
        if failed:
            more = " (and {} more)".format(len(failed) - 1) if len(failed) > 1 else ""
            raise Failure(failed[0] + more)
        if not self.read_only:
            keep = {os.path.normpath(e.name) for e in self.entries} | {MANIFEST}
            for root, _, names in os.walk(self.dest):
                for n in names:
                    p = os.path.join(root, n)
                    if os.path.relpath(p, self.dest) not in keep:
                        os.remove(p)
            shutil.rmtree(self.partial, ignore_errors=True)

    def forked(self, missing: List[Entry], procs: int) -> List[str]:
        """Files split over processes, each with its own threads: one interpreter's lock
        caps a pull at a few GB/s (bench/weights.py), a NIC and an NVMe array do not."""
        groups: List[List[Entry]] = [[] for _ in range(procs)]
        for e in sorted(missing, key=lambda e: -e.size):
            min(groups, key=lambda g: sum(x.size for x in g)).append(e)
        _FORKED[:] = [self, groups]
        self.workers = max(1, self.workers // procs)
        with multiprocessing.get_context("fork").Pool(procs, _die_with_parent) as pool:
            results = pool.map(_child, range(procs))
        failed: List[str] = []
        for errs, fetched, hash_s in results:
            failed += errs
            self.fetched += fetched
            self.hash_s += hash_s
        return failed


_FORKED: List[Any] = []  # the Pull and its file groups, for forked children


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG = 1, SIGKILL = 9: a killed pull leaves no child writing on.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, 9)


def _child(i: int) -> Tuple[List[str], int, float]:
    job, groups = _FORKED
    errs = job.rounds(groups[i])
    return errs, job.fetched, job.hash_s


# --- sources --------------------------------------------------------------------------------


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="/")


def _instance_principal() -> Signer:
    try:
        import oci  # type: ignore[import-not-found,unused-ignore]  # weights.sh installs it
    except ImportError as err:
        raise Failure("instance principal signing needs the oci SDK ({})".format(err)) from None
    # The SDK signs a requests PreparedRequest, and vendors its own requests for that
    # (oci/_vendor/requests, what oci/base_client.py imports): top-level `requests` is no
    # dependency of `oci` and is absent from its venv (issue 18, finding 1).
    try:
        from oci._vendor import requests  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # a distribution's build that unbundles it depends on requests
        import requests  # type: ignore[import-untyped,unused-ignore]
    signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()

    def sign(url: str, headers: Headers) -> Headers:
        req = requests.Request("GET", url, headers=headers).prepare()
        with _LOCK:
            signer(req)
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()}

    return sign


def hub_token(path: str) -> str:
    """The token in env file `path` (HF_TOKEN=..., as the hub-token step writes it): a private
    or gated repo's, sent to the hub's own origin and never along a redirect to another one."""
    try:
        with open(path) as fh:
            token = {k: v.strip() for k, _, v in (ln.partition("=") for ln in fh)}.get("HF_TOKEN")
    except OSError as err:
        raise Failure("cannot read {} ({})".format(path, err.strerror)) from None
    # Checked here, not left to http.client, whose error for a bad header would quote it.
    if not re.match(r"[A-Za-z0-9_.-]+\Z", token or ""):
        raise Failure("{} holds no HF_TOKEN=<token> line".format(path))
    return str(token)


def _bearer(base: str, token: str) -> Signer:
    """Adds the token to requests for the hub's own origin, and to nothing else."""

    def sign(url: str, headers: Headers) -> Headers:
        same = _origin(url) == _origin(base)
        return dict(headers, Authorization="Bearer " + token) if same else headers

    return sign


def source(args: Any) -> Tuple[Source, List[Entry]]:
    """Where to fetch from, and the manifest there."""
    if args.hub:
        base = (
            args.hub_endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        ).rstrip("/")
        sign = _bearer(base, hub_token(args.hub_token_file)) if args.hub_token_file else None
        hub = Source("the model hub ({})".format(base.split("//")[-1]), _q, sign)
        info = get_json(
            hub, "{}/api/models/{}/revision/{}?blobs=true".format(base, args.hub, _q(args.revision))
        )
        entries = hub_entries(info)
        rev = info.get("sha") or args.revision
        return hub._replace(
            url=lambda n: "{}/{}/resolve/{}/{}".format(base, args.hub, rev, _q(n))
        ), entries
    prefix = args.prefix.strip("/") + "/" if args.prefix.strip("/") else ""
    if args.base_url:
        base = args.base_url.rstrip("/") + "/"
        src = Source("the bucket", lambda n: base + _q(prefix + n), None)
    else:
        region, ns, bucket = args.oci.split("/")
        host = args.oci_endpoint or "https://objectstorage.{}.oraclecloud.com".format(region)
        base = "{}/n/{}/b/{}/o/".format(host.rstrip("/"), ns, bucket)
        src = Source("bucket " + bucket, lambda n: base + _q(prefix + n), _instance_principal())
    # Policies and PARs take effect a little after `terraform apply` returns.
    deadline = time.monotonic() + args.auth_wait
    while True:
        try:
            doc = get_json(src, src.url(MANIFEST))
            break
        except urllib.error.HTTPError as err:
            if err.code not in (401, 403, 404) or time.monotonic() > deadline:
                raise
            time.sleep(10)
    try:
        return src, entries_from(doc)
    except Failure as err:
        # Reached and read, but broken: a cached manifest is no answer to that.
        raise Failure(
            "{} in {} is broken: {}; run `gpuform weights push` again".format(
                MANIFEST, _safe(src.url(MANIFEST)), str(err).replace("the manifest", "it")
            )
        ) from None


def _refused(args: Any) -> str:
    """What to do about a 401 or 403 from the source."""
    if not args.hub:
        return "check the PAR or the instance policy"
    if args.hub_token_file:
        fix = "the token cannot read {} (accept a gated model's terms with its account)"
    else:
        # The hub answers 401 alike for a private repo, a gated one and one that does not exist.
        fix = "{} needs a hub token if private or gated: Model(hub_token=True), token in OCI Vault"
    return fix.format(args.hub)


def _why(err: Exception, what: str, args: Any) -> str:
    if isinstance(err, urllib.error.HTTPError):
        if err.code in (401, 403):
            return "{} refused access (HTTP {}); {}".format(what, err.code, _refused(args))
        if err.code == 404:
            fix = "check model.id and revision" if args.hub else "run `gpuform weights push` first"
            return "{} has no {} (HTTP 404); {}".format(what, args.hub or MANIFEST, fix)
        return "{} answered HTTP {}".format(what, err.code)
    fix = (
        "the node needs internet access"
        if "hub" in what
        else "check the service gateway or internet access"
    )
    return "cannot reach {} ({}); {}".format(what, getattr(err, "reason", err), fix)


def _cached(dest: str) -> Optional[List[Entry]]:
    try:
        with open(os.path.join(dest, MANIFEST)) as fh:
            return entries_from(json.load(fh))
    except (OSError, ValueError, KeyError, Failure):
        return None


def pull(args: Any) -> Tuple[int, float, float]:
    """Verified weights in args.dest: (bytes fetched, seconds, seconds spent hashing)."""
    t0 = time.monotonic()
    try:
        src, entries = source(args)
    except Failure:
        raise
    except Exception as err:
        what = "the model hub" if args.hub else "the bucket"
        cached = _cached(args.dest)
        if cached is None:
            raise Failure(_why(err, what, args)) from None
        # Rebooted without the source: what was verified before is still good.
        log(_why(err, what, args) + "; checking the cached manifest instead")
        src, entries, args.verify_only = Source(what, _q, None), cached, True
    job = Pull(src, entries, args)
    job.run()
    files = [dict((k, v) for k, v in e._asdict().items() if v != "") for e in entries]
    tmp = os.path.join(args.dest, MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump({"format": FORMAT, "files": files}, fh, indent=1)
    os.replace(tmp, os.path.join(args.dest, MANIFEST))
    return job.fetched, time.monotonic() - t0, job.hash_s


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description="gpuform weight pull (docs/weights.md)")
    src = p.add_mutually_exclusive_group(required=True)
    for flag in ("--base-url", "--oci", "--hub"):
        src.add_argument(flag)
    for flag, default in (
        ("--revision", "main"),
        ("--hub-endpoint", None),
        ("--hub-token-file", None),
        ("--prefix", ""),
        ("--oci-endpoint", None),  # another realm's Object Storage, or a stand-in's
        ("--state", None),  # ignored: a warm cache is hashed on every run, not stamped
        ("--log", None),
    ):
        p.add_argument(flag, default=default)
    p.add_argument("--dest", required=True)
    p.add_argument("--workers", type=int, default=32, help="parallel ranges in all")
    p.add_argument("--procs", type=int, default=min(8, (os.cpu_count() or 2) // 2))
    p.add_argument("--chunk-mb", type=int, default=64)
    p.add_argument("--auth-wait", type=float, default=600)
    p.add_argument("--verify-only", action="store_true")
    args = p.parse_args(argv)
    if args.log:
        _LOG[0] = open(args.log, "a")  # noqa: SIM115  (open for the whole run)
    detail = " (details: {})".format(args.log) if args.log else ""
    try:
        fetched, secs, hash_s = pull(args)
    except Exception as err:  # one line for the journal, whatever it was
        why = str(err) if isinstance(err, Failure) else "{}: {}".format(type(err).__name__, err)
        print("gpuform: weights: {}{}".format(why, detail), file=sys.stderr)
        return 1
    total = sum(e.size for e in _cached(args.dest) or [])
    msg = "gpuform: weights: {:.2f} GB verified in {} (fetched {:.2f} GB in {:.0f}s, {:.2f} GB/s;"
    msg = msg.format(total / 1e9, args.dest, fetched / 1e9, secs, fetched / max(secs, 1e-9) / 1e9)
    msg += " hashing {:.0f}s)".format(hash_s)
    log(msg)
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
