"""(placeholder: filled by its chapter's work)"""
__all__: list[str] = []
