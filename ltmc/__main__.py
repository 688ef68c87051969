from ltmc.program import main

main()
