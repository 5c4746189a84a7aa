"""One reading of params.yaml for every tool: robqunn and Snakemake read it with PyYAML (YAML 1.1), DVC with
ruamel.yaml (YAML 1.2), and the two read some plain scalars differently: ``052`` is 42 for one and 52 for the
other, ``yes`` a boolean or a string, ``1e-3`` a string or a float, ``1:30`` 90 or a string. A duplicated key
is kept (the last wins) by PyYAML and refused by ruamel. Either way one file would give two studies, so
:func:`read_params_yaml` refuses both, naming the file, the line and the key, before any tool acts on it.

Why a scalar at a time: each plain scalar is read by both libraries (ruamel with DVC's own settings,
``YAML(typ="safe")``) and compared, so that the rule is the libraries' own behaviour, not a list of patterns
of ours; the walk over PyYAML's node tree gives each scalar's line and key.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from robqunn.errors import ParamsError

# Plain scalars that could resolve to something other than a string in either dialect: digits, signs, dots,
# and the words of YAML 1.1's booleans and both dialects' nulls. The rest are strings in both (checked).
MAYBE_NOT_A_STRING = re.compile(r"^[-+.0-9~]|^(y|yes|n|no|on|off|true|false|null)$", re.IGNORECASE)
HOW_TO_AGREE = "quote a string; write 42 for 052, 1.0e-3 for 1e-3, true/false for yes/no/on/off"


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it: ten times faster


def read_params_yaml(text: str, where: str | Path) -> Any:
    """``text`` (the params file ``where``) as PyYAML reads it, after checking that DVC's YAML 1.2 reads it the
    same and that no mapping repeats a key (one parse: each scalar's YAML 1.1 value is the document's own).

    Raises:
        ParamsError: a duplicated key or a scalar the two dialects read differently (file, line and key named),
            or text that is not YAML.
    """
    loader = LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_node(root, (), str(where), _Readers(loader))  # plain scalars: style None (PyYAML) or "" (libyaml)
        return loader.construct_document(root)
    except yaml.YAMLError as error:
        raise ParamsError(f"params file {str(where)!r} must be valid YAML; got: {error}") from None
    finally:
        loader.dispose()


class _Readers:
    """One plain scalar read by each dialect: as the document's PyYAML constructor reads it, and by ruamel.yaml as
    the value of a one-key document."""

    def __init__(self, loader) -> None:
        from ruamel.yaml import YAML

        self._loader = loader
        self._ruamel = YAML(typ="safe")  # dvc.utils.serialize.parse_yaml's reader

    def yaml_1_1(self, node: yaml.ScalarNode) -> Any:
        return self._loader.construct_object(node)

    def yaml_1_2(self, raw: str) -> Any:
        return self._ruamel.load(f"v: {raw}")["v"]


def _check_node(node: yaml.Node, key: tuple[str, ...], where: str, readers: _Readers) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            line = key_node.start_mark.line + 1
            if name in seen:
                raise ParamsError(
                    f"{where} line {line}: params key {_dotted(key + (name,))!r} appears twice (first on line "
                    f"{seen[name]}); DVC refuses the file and robqunn would keep the last: keep one"
                )
            seen[name] = line
            _check_node(key_node, key + (name,), where, readers)
            _check_node(value_node, key + (name,), where, readers)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_node(item, key + (f"[{index}]",), where, readers)
    elif isinstance(node, yaml.ScalarNode) and not node.style and MAYBE_NOT_A_STRING.search(node.value):
        _check_scalar(node, key, where, readers)


def _check_scalar(node: yaml.ScalarNode, key: tuple[str, ...], where: str, readers: _Readers) -> None:
    old, new = readers.yaml_1_1(node), readers.yaml_1_2(node.value)
    if not _same(old, new):
        raise ParamsError(
            f"{where} line {node.start_mark.line + 1}: params key {_dotted(key)!r} is {node.value!r}, which YAML "
            f"1.1 (robqunn and Snakemake: PyYAML) reads as {old!r} and YAML 1.2 (DVC: ruamel.yaml) as {new!r}; "
            f"write it so that both read the same ({HOW_TO_AGREE})"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _dotted(key: tuple[str, ...]) -> str:
    return ".".join(key).replace(".[", "[")
