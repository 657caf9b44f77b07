"""Computer-vision building blocks shared by several pipelines.

- :mod:`.geometry`     box IoU, clipping, NMS helpers
- :mod:`.detection`    background-subtraction and HOG-people detectors (registry ``DETECTORS``)
- :mod:`.tracking`     IoU + Hungarian tracker with birth/death parameters
- :mod:`.flow`         dense optical flow (OpenCV DIS / Farneback), compact storage
- :mod:`.crops`        I3D-style multi-crop geometry
- :mod:`.descriptors`  HOG / HOF / MBH snippet descriptors, box HOG and flow histograms
- :mod:`.backbones`    torchvision video and image backbones from local weights
- :mod:`.snippets`     snippet-feature extractor registry ``SNIPPET_EXTRACTORS``
- :mod:`.incremental`  content keys for incremental (skip-unchanged) feature extraction

Every module imports OpenCV / numpy only; torch is imported lazily by :mod:`.backbones`.
"""
