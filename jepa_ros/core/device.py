"""The torch device a tool or node runs on (one rule for training, evaluation and nodes)."""
import torch


def pick_device(name='auto'):
    """'auto' -> 'cuda' when CUDA is available, else 'cpu'; any other torch device name
    ('cpu', 'cuda', 'cuda:1') as its canonical string. ValueError for a name torch does not
    know, or for a CUDA device on a machine without CUDA.

    A string (not torch.device): it goes into JSON summaries, checkpoint provenance and
    node parameters as is, and every torch call that takes a device accepts it."""
    name = str(name or 'auto').strip()
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f'unknown torch device {name!r}: {exc}') from None
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} asked for but CUDA is not available')
    return str(dev)
