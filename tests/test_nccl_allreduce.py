"""`gpuform nccl-test`: the script every node runs, and reading what NCCL printed."""

from __future__ import annotations

from infra.nccl_allreduce import parse, script
from infra.node_plan import plan_nodes
from infra.sizing.settings import resolve
from infra.stacks import load_examples

from .conftest import run_cli
from .test_render_validators import assert_silent, shellcheck_files

HEAD_OUTPUT = """\
node0:123:456 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/RoCE [1]mlx5_1:1/RoCE
node0:123:456 [0] NCCL INFO Channel 00/0 : 8[0] -> 0[0] [receive] via NET/IB/0
gpuform-nccl-test: bytes=1073741824 ranks=16 ms=12.345 algbw_GBps=86.98 busbw_GBps=163.08
"""
SOCKET_OUTPUT = """\
node0:123:456 [0] NCCL INFO Channel 00/0 : 8[0] -> 0[0] [receive] via NET/Socket/0
gpuform-nccl-test: bytes=1073741824 ranks=16 ms=400.0 algbw_GBps=2.68 busbw_GBps=5.03
"""


def _plan(name: str) -> tuple[str, str]:
    spec = load_examples()[name]
    plan = plan_nodes(spec, resolve(spec))
    return spec.image_ref, script(plan, spec.image_ref, 1 << 30, 20)


def test_the_script_passes_shellcheck_and_carries_rdma_and_ranks() -> None:
    _, body = _plan("deepseek-r1-2x-h100")
    assert_silent(shellcheck_files({"/nccl-test.sh": "#!/bin/bash\n" + body}), "nccl-test")
    assert "--device /dev/infiniband" in body and "--env-file /etc/nccl.conf" in body
    assert "rank=$((GPUFORM_NODE_INDEX % 2))" in body
    assert '--nnodes=2 --node-rank="$rank" --nproc-per-node=8' in body
    assert "NCCL_DEBUG=INFO" in body


def test_a_one_node_stack_has_no_rdma_flags() -> None:
    _, body = _plan("deepseek-r1-h200")
    assert "/dev/infiniband" not in body and "--nnodes=1" in body


def test_parse_reads_bandwidth_and_transport() -> None:
    ib = parse(HEAD_OUTPUT)
    assert ib is not None
    assert (ib.ranks, ib.busbw_gbps, ib.transport) == (16, 163.08, "NET/IB")
    sock = parse(SOCKET_OUTPUT)
    assert sock is not None and sock.transport == "NET/Socket"
    assert parse("Traceback (most recent call last):\n  RuntimeError: NCCL error") is None


def test_cli_prints_the_script_and_refuses_a_bad_size() -> None:
    ok = run_cli(["nccl-test", "deepseek-r1-2x-h100", "--bytes", "256M"])
    assert ok.code == 0, ok.stderr
    assert "GPUFORM_NCCL_TEST_BYTES=268435456" in ok.stdout
    bad = run_cli(["nccl-test", "deepseek-r1-2x-h100", "--bytes", "lots"])
    assert bad.code == 2 and bad.stderr.count("\n") == 1 and "--bytes = 'lots'" in bad.stderr


def test_parse_reads_a_real_single_gpu_run() -> None:
    # Recorded from the rendered allreduce.py under torchrun on one NVIDIA H100 80GB HBM3 (NCCL
    # 2.27, torch 2.11): one rank has no peers, so its bus bandwidth is 0 by definition.
    line = "gpuform-nccl-test: bytes=268435456 ranks=1 ms=0.030 algbw_GBps=9023.48 busbw_GBps=0.00"
    found = parse(
        "vm:453:453 [0] NCCL INFO ncclCommInitRankConfig comm 0x212a1a20 rank 0 nranks 1 "
        "cudaDev 0 nvmlDev 0 busId 60 commId 0xa7a7cc51dd6b51a2 - Init COMPLETE\n" + line + "\n"
    )
    assert found is not None
    assert (found.ranks, found.busbw_gbps, found.transport) == (1, 0.0, "none (one node)")
