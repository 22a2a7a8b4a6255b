"""Reading, never judging: every file format reprolock understands, at the bottom of the house.

Positioned TOML/YAML/JSON (:mod:`.toml`, :mod:`.yaml`, :mod:`.json`), requirements read as pip
reads them (:mod:`.spec`, :mod:`.requirements`), the headers locking tools write
(:mod:`.header`), and every lock format (:mod:`.uv`, :mod:`.poetry`, :mod:`.pdm`,
:mod:`.pipfile`, :mod:`.pylock`, :mod:`.conda`, requirements locks in :mod:`.read`) read into
one model (:mod:`.lock`). Nothing here imports anything of reprolock but :mod:`reprolock.model`,
:mod:`reprolock.errors` and :mod:`reprolock.files`.
"""
