__all__ = ['ttypes', 'constants', 'ZipkinCollector']
