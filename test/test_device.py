"""jepa_ros.core.device.pick_device: the one device rule of tools and nodes."""
import pytest
import torch

from jepa_ros.core.device import pick_device


def test_auto_and_explicit_names_give_device_strings():
    assert pick_device('auto') == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert pick_device() == pick_device('auto')
    assert pick_device('cpu') == 'cpu'
    assert isinstance(pick_device('cpu'), str)


def test_cuda_only_where_it_exists():
    if torch.cuda.is_available():
        assert pick_device('cuda:0') == 'cuda:0'
    else:
        with pytest.raises(ValueError, match='CUDA is not available'):
            pick_device('cuda')


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown torch device 'gpu0'"):
        pick_device('gpu0')
