"""ROS 2 message definitions as MCAP schema text (rosbag2 style), from the
generated Python message classes (no .msg files needed)."""
import importlib


def msgdef_from_class(msg_class):
    """rosbag2-style concatenated .msg text of an rclpy message class (for MCAP schemas).

    Built from `get_fields_and_field_types()`, so it works for any generated type
    (our own interfaces included) without the .msg files on disk.
    """
    basic = {'float': 'float32', 'double': 'float64', 'octet': 'byte', 'boolean': 'bool',
             'long double': 'float64', 'char': 'char', 'wchar': 'wchar', 'wstring': 'wstring'}
    done, order, texts = set(), [], {}

    def type_name(idl):
        bound = ''
        if idl.startswith('sequence<'):
            inner = idl[len('sequence<'):-1]
            if ',' in inner:
                inner, n = inner.rsplit(',', 1)
                bound = f'[<={n.strip()}]'
            else:
                bound = '[]'
            return type_name(inner.strip()) + bound
        if idl.endswith(']') and '[' in idl:
            base, n = idl[:-1].split('[', 1)
            return type_name(base) + f'[{n}]'
        if idl.startswith('string<'):
            return f'string<={idl[7:-1]}'
        if '/' in idl:
            visit(idl)
            return idl
        return basic.get(idl, idl)

    def visit(name):
        if name in done:
            return
        done.add(name)
        pkg, _, cls_name = name.partition('/')
        cls = getattr(importlib.import_module(f'{pkg}.msg'), cls_name)
        lines = [f'{type_name(t)} {f}' for f, t in cls.get_fields_and_field_types().items()]
        texts[name] = '\n'.join(lines) + '\n'
        order.append(name)

    module = msg_class.__module__.split('.')[0]
    top = f'{module}/{msg_class.__name__}'
    visit(top)
    out = texts[top]
    for name in order[1:]:
        pkg, _, cls_name = name.partition('/')
        out += '=' * 80 + f'\nMSG: {pkg}/msg/{cls_name}\n' + texts[name]
    return out
