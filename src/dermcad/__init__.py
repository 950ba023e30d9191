"""dermcad: computer-aided diagnosis of melanoma on dermoscopy images.

dermcad assists clinicians; it never replaces their judgement. It is not a medical device.
"""

__version__ = "0.1.0"

INTENDED_USE = (
    "Research and decision support only. dermcad flags dermoscopy images that a model scores as "
    "likely melanoma so that a clinician looks at them first; it is an assistive tool, not a "
    "diagnosis and not a medical device. Every result must be reviewed by a qualified clinician."
)
