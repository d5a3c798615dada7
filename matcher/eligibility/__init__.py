"""Who may go where: the eligible (candidate, slot) pairs and the cap tree above the slots,
the rules that cross it, and the lottery that breaks priority ties."""
