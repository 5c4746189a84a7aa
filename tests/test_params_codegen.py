"""Tests of robqunn.params_codegen: the params dataclasses are derived from the schema, their one declaration."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from robqunn import config, params_types
from robqunn.config import read_yaml
from robqunn.params_codegen import generate, module_file, schema_file

SCHEMA = read_yaml(schema_file().read_text())


def test_the_module_is_what_the_schema_generates():
    """robqunn/params_types.py is exactly what the schema generates: a key added to the schema without
    regenerating, or an edit of the generated file, fails here."""
    assert module_file().read_text() == generate(SCHEMA), (
        "src/robqunn/params_types.py differs from params.schema.yaml: run `python -m robqunn.params_codegen`"
    )


def section_nodes(node: dict, key: str = ""):
    """(dotted key, node) of every object node of the params file, depth first."""
    for name, child in node.get("properties", {}).items():
        child = config._resolve(child["$ref"]) | child if "$ref" in child else child
        if child.get("type") == "object":
            dotted = f"{key}.{name}" if key else name
            yield dotted, child
            yield from section_nodes(child, dotted)


@pytest.mark.parametrize("key, node", list(section_nodes(SCHEMA)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_section_is_a_dataclass_of_exactly_its_keys(key, node):
    """Each object node of the schema is read into a dataclass whose fields are the node's keys (its $ref's too)."""
    cls = getattr(params_types, node["x-class"])
    keys = set(node.get("properties", {})) | set(config._property_names(node))
    assert {field.name for field in dataclasses.fields(cls)} == keys
    assert config._sections()[key][0] is cls


def test_a_new_key_becomes_a_field():
    schema = copy.deepcopy(SCHEMA)
    train = schema["properties"]["train"]
    train["properties"]["patience"] = {"type": "integer", "minimum": 0, "description": "Epochs without progress."}
    train["required"].append("patience")
    text = generate(schema)
    block = text[text.index("class TrainParams") : text.index("class AttackParams")]
    assert "    #: Epochs without progress.\n    patience: int\n" in block


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["properties"]["train"]["required"].remove("epochs"), r"TrainParams must require.*epochs"),
        (lambda s: s["properties"]["train"].pop("x-class"), r"Params\.train needs an x-type"),
        (lambda s: s["properties"]["data"]["properties"]["source"].pop("x-enum"), r"source needs an x-type"),
        (
            lambda s: s["properties"]["data"]["properties"]["idx_dir"].update({"x-type": "Folder | None"}),
            r"\['Folder'\]",
        ),
    ],
    ids=["optional key", "object without x-class", "choices without x-enum", "a type nothing defines"],
)
def test_a_schema_the_code_cannot_follow_is_refused(change, message):
    """An optional key (a dataclass field needs a value), or a node whose Python type the schema does not name."""
    schema = copy.deepcopy(SCHEMA)
    change(schema)
    with pytest.raises(ValueError, match=message):
        generate(schema)
