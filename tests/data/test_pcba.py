"""PCBA: downloading it (against a local server only) and loading the user's file."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from mtlperf.data import FetchError, fetch_pcba, load_dataset
from mtlperf.data.pcba import pcba_task_names

TASKS = list(pcba_task_names())
MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN", "Cc1ccncc1", "OC1CCCCC1"]


def write_pcba_like(path, tasks=TASKS, seed=0):
    """A small DeepChem-layout file: task columns in a shuffled order, then mol_id and smiles."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(tasks))
    lines = [",".join(order + ["mol_id", "smiles"])]
    for i, smiles in enumerate(MOLECULES):
        cells = ["" if rng.random() < 0.4 else str(int(rng.random() < 0.2)) for _ in order]
        cells[order.index(tasks[0])] = str(i % 2)  # every molecule labelled in the first task
        lines.append(",".join(cells + [f"CID{i}", smiles]))
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return order, lines


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    write_pcba_like(root / "pcba.csv.gz")
    write_pcba_like(root / "short.csv.gz", tasks=TASKS[:100])
    (root / "plain.csv.gz").write_text("not gzip at all\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_fetch_places_verified_file_in_cache(server, tmp_path, monkeypatch):
    base, root = server
    monkeypatch.setenv("MTLPERF_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256((root / "pcba.csv.gz").read_bytes()).hexdigest()
    path = fetch_pcba(url=f"{base}/pcba.csv.gz", sha256=digest, progress=False)
    assert path == tmp_path / "cache" / "pcba.csv.gz"
    assert path.read_bytes() == (root / "pcba.csv.gz").read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["pcba.csv.gz"]  # no temporary file left
    # Already there and valid: kept, not downloaded again (the URL is now unreachable).
    assert fetch_pcba(url="http://127.0.0.1:9/none", progress=False) == path


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, _ = server
    with pytest.raises(FetchError, match="sha256 mismatch: expected 0{64}, got [0-9a-f]{64}"):
        fetch_pcba(cache_dir=tmp_path, url=f"{base}/pcba.csv.gz", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [("short.csv.gz", "not a PCBA-128 file: .*missing 28: PCBA-"),
                                           ("plain.csv.gz", "not a complete gzip file"),
                                           ("absent.csv.gz", "HTTP 404")])  # fmt: skip
def test_wrong_or_absent_file_is_rejected(server, tmp_path, name, message):
    base, _ = server
    with pytest.raises(FetchError, match=message):
        fetch_pcba(cache_dir=tmp_path, url=f"{base}/{name}", progress=False)
    assert not (tmp_path / "pcba.csv.gz").exists()


def test_no_network_is_one_clear_line(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/pcba.csv.gz"
    with pytest.raises(FetchError, match=f"could not download {url}: .*no network") as error:
        fetch_pcba(cache_dir=tmp_path, url=url, timeout=5, progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "pcba.csv.gz").exists()


def test_pcba_loads_in_deepchem_task_order(tmp_path):
    order, lines = write_pcba_like(tmp_path / "pcba.csv.gz", seed=3)
    assert order != TASKS
    data = load_dataset("pcba", cache_dir=tmp_path)
    assert data.name == "pcba" and data.task_names == TASKS and data.n_tasks == 128
    assert data.smiles == MOLECULES
    first_row = dict(zip(order, lines[1].split(",")))
    expected = [float(first_row[t]) if first_row[t] else np.nan for t in TASKS]
    np.testing.assert_array_equal(data.labels[0], np.array(expected, dtype=np.float32))
    subset = load_dataset("pcba", n_tasks=32, path=tmp_path / "pcba.csv.gz", cache_dir=tmp_path)
    assert subset.task_names == TASKS[:32]
    np.testing.assert_array_equal(subset.labels, data.labels[:, :32])


def test_pcba_missing_columns_or_file(tmp_path):
    write_pcba_like(tmp_path / "short.csv.gz", tasks=TASKS[:-2])
    with pytest.raises(ValueError, match=f"missing 2: {TASKS[-2]}, {TASKS[-1]}"):
        load_dataset("pcba", path=tmp_path / "short.csv.gz", cache=False)
    with pytest.raises(ValueError, match="PCBA file not found at .*fetch_pcba"):
        load_dataset("pcba", cache_dir=tmp_path / "empty")
