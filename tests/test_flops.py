"""The work counted for a step against the network's own arithmetic, and the GEMM rate it is measured against."""

import torch

from mtlperf.cases import make_case
from mtlperf.flops import gemm_rate, step_flops


def test_a_constant_step_counts_every_product_and_both_embedding_bags():
    n_tasks, batch = 8, 64
    case = make_case("constant", n_tasks, batch, "cpu", 0)
    nnz = case.batches[0][0].indices.numel()
    # Pyramidal 2048 -> 2000 -> 100 -> T heads; a product counts 2 per multiply-add, its backward twice that
    products = 3 * 2 * batch * (2000 * 100 + 100 * n_tasks)
    bags = 2 * nnz * 2000  # the first layer's forward and its weight gradient, one addition per element
    assert step_flops(case) == {"total": products + bags, "counted": products, "analytic": bags}


def test_a_gramian_step_counts_more_work_than_constant_and_the_engines_products():
    constant, pcgrad = (step_flops(make_case(spec, 16, 64, "cpu", 0)) for spec in ("constant", "pcgrad"))
    assert pcgrad["total"] > 2 * constant["total"] and pcgrad["analytic"] >= constant["analytic"]


def test_the_gemm_rate_is_a_positive_rate_with_its_threads():
    rate = gemm_rate(torch.device("cpu"), size=256, repeats=2)
    assert rate["flops_per_s"] > 0 and rate["threads"] == torch.get_num_threads() and rate["size"] == 256
