"""Model zoo: publishable checkpoints, model-index metafiles and the reproducible toy zoo."""
from .publish import (HASH_CHARS, publish_checkpoint, published_meta, published_name, sha256sum,
                      verify_published)

__all__ = ['HASH_CHARS', 'publish_checkpoint', 'published_meta', 'published_name', 'sha256sum',
           'verify_published']
