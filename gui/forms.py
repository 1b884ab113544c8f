"""Forms generated from the recipe's pydantic models: one widget per field, help text as
tooltip, nested models as sub-groups, and problems from validation shown at their field.

``ModelForm.values()`` returns only what differs from the model's defaults (and anything
that does not parse, so that validation reports it at its field), which keeps saved YAML
short. Field paths are dotted like the recipe's: ``teacher.budget.max_usd``.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

_MISSING = object()


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)) and len(args) == 1:
            return args[0], True
    return annotation, False


def _default(info: FieldInfo) -> Any:
    if info.is_required():
        return _MISSING
    return info.get_default(call_default_factory=True)


def _text(value: Any) -> str:
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return str(value)


def set_invalid(widget: QWidget, message: str | None) -> None:
    """Mark a widget as holding a problem (red border, message as tooltip), or clear it."""
    if message is None:
        if widget.property("invalid"):
            widget.setProperty("invalid", False)
            widget.setToolTip(str(widget.property("help") or ""))
    else:
        widget.setProperty("invalid", True)
        help_text = str(widget.property("help") or "")
        widget.setToolTip(f"⚠ {message}" + (f"\n\n{help_text}" if help_text else ""))
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class ModelForm(QGroupBox):
    """A form for one pydantic model; ``prefix`` is its dotted path in the recipe."""

    def __init__(self, model: type[BaseModel], prefix: str, title: str = "",
                 skip: tuple[str, ...] = ()) -> None:
        super().__init__(title)
        self.model = model
        self.prefix = prefix
        self.fields: dict[str, tuple[QWidget, FieldInfo, Any]] = {}
        self.subforms: dict[str, ModelForm] = {}
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for name, info in model.model_fields.items():
            if name in skip:
                continue
            annotation, optional = _strip_optional(info.annotation)
            help_text = info.description or ""
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                sub = ModelForm(annotation, f"{prefix}.{name}", name.replace("_", " "))
                sub.setToolTip(help_text)
                self.subforms[name] = sub
                layout.addRow(sub)
                continue
            widget = self._widget(annotation, optional, _default(info))
            widget.setProperty("help", help_text)
            widget.setToolTip(help_text)
            widget.setObjectName(f"{prefix}.{name}")
            self.fields[name] = (widget, info, annotation)
            layout.addRow(name.replace("_", " "), widget)

    @staticmethod
    def _widget(annotation: Any, optional: bool, default: Any) -> QWidget:
        if annotation is bool:
            box = QCheckBox()
            box.setChecked(bool(default))
            return box
        if get_origin(annotation) is Literal:
            combo = QComboBox()
            combo.addItems([str(a) for a in get_args(annotation)])
            if default is not _MISSING and default is not None:
                combo.setCurrentText(str(default))
            return combo
        if annotation is int and not optional and default is not _MISSING:
            spin = QSpinBox()
            spin.setRange(-1_000_000_000, 1_000_000_000)
            spin.setValue(int(default))
            return spin
        edit = QLineEdit(_text(default))
        if optional:
            edit.setPlaceholderText("none")
        return edit

    def widget_at(self, path: str) -> QWidget | None:
        """The widget of a dotted path inside this form (or the form itself)."""
        if not path.startswith(self.prefix):
            return None
        rest = path[len(self.prefix):].lstrip(".")
        if not rest:
            return self
        head, _, tail = rest.partition(".")
        if head in self.fields:
            return self.fields[head][0]
        if head in self.subforms:
            return self.subforms[head].widget_at(f"{self.prefix}.{head}.{tail}".rstrip("."))
        return None

    def all_widgets(self) -> list[QWidget]:
        out = [w for w, _, _ in self.fields.values()]
        for sub in self.subforms.values():
            out += sub.all_widgets()
        return out

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (widget, info, annotation) in self.fields.items():
            value = self._read(widget, annotation)
            default = _default(info)
            if value is _MISSING:
                continue
            if default is _MISSING or value != default:
                out[name] = value
        for name, sub in self.subforms.items():
            sub_values = sub.values()
            if sub_values:
                out[name] = sub_values
        return out

    @staticmethod
    def _read(widget: QWidget, annotation: Any) -> Any:
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QSpinBox):
            return widget.value()
        assert isinstance(widget, QLineEdit)
        text = widget.text().strip()
        if not text:
            return None if widget.placeholderText() == "none" else _MISSING
        if annotation is str:
            return text
        try:
            value = yaml.safe_load(text)  # numbers, lists, mappings in flow style
        except yaml.YAMLError:
            return text  # validation reports it at this field
        if annotation is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def set_values(self, data: dict[str, Any]) -> None:
        """Fill the widgets from recipe data; fields absent from ``data`` get their default."""
        for name, (widget, info, _annotation) in self.fields.items():
            value = data.get(name, _default(info))
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(_text(value))
            elif isinstance(widget, QSpinBox):
                try:
                    widget.setValue(int(value))
                except (TypeError, ValueError):
                    pass
            elif isinstance(widget, QLineEdit):
                widget.setText(_text(value))
        for name, sub in self.subforms.items():
            given = data.get(name)
            sub.set_values(given if isinstance(given, dict) else {})
