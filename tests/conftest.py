import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny networks on a shared 2-core machine: a second thread only contends."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
