"""Files and weights: atomic writes (`io.files`), reading and strictly checking state dicts (`io.weights`,
`io.fp8`), and the four stages of every model load (`io.loading`: build on meta, transforms, load, place).

This package sits at the bottom of the import order (it needs only torch and safetensors, imported by the
submodules that use them), so models, convert, data, curate, train, pipelines and serve may all use it.
"""
